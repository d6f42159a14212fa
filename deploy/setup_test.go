package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"edge-agent/internal/testenv"
)

// fakeORTTarball is an npm tarball laid out like onnxruntime-node's, with
// lib as the x64 library.
func fakeORTTarball(t *testing.T, lib []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	name := "package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(lib))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(lib); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scripts/setup.sh's build role fetches the ONNX Runtime library from the npm
// registry NPM_CONFIG_REGISTRY names, with curl, and keeps it only when it
// matches the registry's sha512 integrity. The registry here is a loopback
// server serving the registry's two URLs; the script runs in a copy of
// scripts/ so that its bin/ is the test's (every Debian package it checks is
// installed on a machine set up for the tests, so it installs nothing).
func TestSetupFetchesVerifiedTarball(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fake tarball holds the x64 library")
	}
	need(t, "curl")
	const version = "9.9.9"
	lib := []byte("not really ONNX Runtime\n")
	tgz := fakeORTTarball(t, lib)
	sum := sha512.Sum512(tgz)
	good := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	var integrity atomic.Value
	integrity.Store(good)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/onnxruntime-node/" + version:
			fmt.Fprintf(w, `{"name": "onnxruntime-node", "version": %q, "dist": {"integrity": %q, "tarball": "x"}}`,
				version, integrity.Load().(string))
		case "/onnxruntime-node/-/onnxruntime-node-" + version + ".tgz":
			w.Write(tgz)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	run := func(t *testing.T, registry string) (string, string, error) {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
			t.Fatal(err)
		}
		script, err := os.ReadFile("../scripts/setup.sh")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "scripts", "setup.sh"), script, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "setup.sh"), "build")
		cmd.Env = append(os.Environ(), "NPM_CONFIG_REGISTRY="+registry, "ORT_VERSION="+version, "EDGE_ORT_LIB=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		return root, out.String(), err
	}

	t.Run("integrity matches", func(t *testing.T) {
		integrity.Store(good)
		root, out, err := run(t, srv.URL+"/")
		if err != nil {
			t.Fatalf("setup.sh build: %v\n%s", err, out)
		}
		got, err := os.ReadFile(filepath.Join(root, "bin", "lib", "libonnxruntime.so.1"))
		if err != nil || !bytes.Equal(got, lib) {
			t.Fatalf("bin/lib/libonnxruntime.so.1 = %q, %v; want the tarball's library\n%s", got, err, out)
		}
	})
	t.Run("integrity differs", func(t *testing.T) {
		other := sha512.Sum512([]byte("another tarball"))
		integrity.Store("sha512-" + base64.StdEncoding.EncodeToString(other[:]))
		root, out, err := run(t, srv.URL+"/")
		if err == nil {
			t.Fatalf("setup.sh build accepted a tarball that does not match its integrity\n%s", out)
		}
		if !strings.Contains(out, "does not match the registry's sha512 integrity") {
			t.Errorf("output does not name the mismatch:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(root, "bin", "lib", "libonnxruntime.so.1")); err == nil {
			t.Error("the library was installed anyway")
		}
	})
	t.Run("registry unreachable", func(t *testing.T) {
		closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)) // nothing listens there
		_, out, err := run(t, closed)
		if err == nil || !strings.Contains(out, "could not read "+closed+"/onnxruntime-node/"+version) {
			t.Errorf("setup.sh build with the registry down: %v; want a failure naming the URL\n%s", err, out)
		}
	})
	t.Run("unknown role", func(t *testing.T) {
		out, err := exec.Command("bash", "../scripts/setup.sh", "nonsense").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "unknown role 'nonsense'") {
			t.Errorf("setup.sh nonsense: %v, %s; want exit status 2 naming the role", err, out)
		}
	})
}

// scripts/build-deps.txt, the packages the images compile before copying the
// sources, is exactly the third-party packages the project imports: one
// missing would rebuild with every source change, one extra would fail the
// image build once it is gone from go.mod.
func TestBuildDepsList(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") && !strings.HasPrefix(p, "edge-agent") {
			want[p] = true
		}
	}
	b, err := os.ReadFile("../scripts/build-deps.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			got[line] = true
		}
	}
	testenv.SameSet(t, want, got, "scripts/build-deps.txt lacks %s, which the project imports",
		"scripts/build-deps.txt lists %s, which the project does not import")
	if len(want) == 0 {
		t.Fatal("go list found no third-party imports")
	}
}
