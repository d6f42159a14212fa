package pipeline

import (
	"slices"
	"strings"
	"testing"
)

// With only the required elements, every codec finds a decoder and an encoder:
// the list covers the software rows of the choice tables.
func TestRequiredElementsCoverSoftwareChoices(t *testing.T) {
	has := func(e string) bool { return slices.Contains(requiredElements, e) }
	for _, codec := range []string{CodecH264, CodecH265} {
		d, err := ChooseDecoder(codec, has, "")
		if err != nil || d.Hardware {
			t.Errorf("%s: decoder %+v, %v; want a software decoder", codec, d, err)
		}
		e, err := ChooseEncoder(codec, has, "")
		if err != nil || e.Hardware {
			t.Errorf("%s: encoder %+v, %v; want a software encoder", codec, e, err)
		}
		if sw := softwareEncoder(codec).Element; !has(sw) {
			t.Errorf("%s: the fallback encoder %s is not required", codec, sw)
		}
	}
	if !slices.IsSorted(requiredElements) {
		t.Errorf("requiredElements is not sorted: %v", requiredElements)
	}
	for _, e := range HardwareElements() {
		if has(e) {
			t.Errorf("hardware element %s is in the required list", e)
		}
	}
}

// Every element the package's launch strings name, for each kind of source,
// codec and software choice, is in the required list.
func TestLaunchStringsNameOnlyRequiredElements(t *testing.T) {
	var launches []string
	for _, u := range []string{"rtsp://cam/stream", "file:///srv/clip.mp4", testSourceURL} {
		for _, paced := range []bool{false, true} {
			launches = append(launches, IngestPipeline(IngestConfig{URL: u, Paced: paced, Width: 640, Height: 360, FPS: 5}))
		}
	}
	has := func(e string) bool { return slices.Contains(requiredElements, e) }
	for _, codec := range []string{CodecH264, CodecH265} {
		d, _ := ChooseDecoder(codec, has, "")
		branch, err := DecodeBranch(codec, d)
		if err != nil {
			t.Fatal(err)
		}
		launches = append(launches, branch,
			OutputPipeline(OutputConfig{URL: "rtsp://h/p", FPS: 10, BitrateKbps: 800}, softwareEncoder(codec),
				VideoCaps{Format: FormatI420, Width: 1280, Height: 720}))
	}
	for _, s := range launches {
		if s == "" {
			t.Fatal("a launch string is empty")
		}
		for _, part := range strings.Split(s, "!") {
			f := strings.Fields(part)
			if len(f) == 0 || strings.Contains(f[0], "/") || strings.Contains(f[0], "=") {
				continue // caps ("video/x-raw,...") or a property of the element before
			}
			if !has(f[0]) {
				t.Errorf("%q names %s, which requiredElements lacks", s, f[0])
			}
		}
	}
}

func TestCheckElements(t *testing.T) {
	have := map[string]bool{"vah264dec": true, "vapostproc": true}
	for _, e := range requiredElements {
		have[e] = e != "x265enc" && e != "rtspclientsink"
	}
	r := checkElements(func(e string) bool { return have[e] })
	if want := []string{"rtspclientsink", "x265enc"}; !slices.Equal(r.Missing, want) {
		t.Errorf("missing %v, want %v", r.Missing, want)
	}
	if want := []string{"vah264dec", "vapostproc"}; !slices.Equal(r.Hardware, want) {
		t.Errorf("hardware %v, want %v", r.Hardware, want)
	}
}

// On a machine set up by scripts/setup.sh, the registry has every required element.
func TestRegistryHasRequiredElements(t *testing.T) {
	if r := CheckElements(); len(r.Missing) > 0 {
		t.Fatalf("GStreamer registry lacks %v (scripts/setup.sh installs them)", r.Missing)
	}
}
