#!/usr/bin/env bash
# setup.sh installs everything edge-agent needs to build, test and run on a
# Debian/Ubuntu machine: GStreamer and its plugins, mosquitto, the ONNX Runtime
# shared library, a MediaMTX server built from source and nats-server (the
# fleet hub's, from the module go.mod pins). It is idempotent and
# takes a few seconds when everything is already in place.
#
# Environment:
#   EDGE_ORT_LIB        use this ONNX Runtime library instead of fetching one from npm
#   ORT_VERSION         onnxruntime-node version on npm to take the library from (1.30.0)
#   MEDIAMTX_VERSION    MediaMTX version to build (v1.14.0)
#
# A failing step says what it was doing and which command failed (the ERR trap
# below, also inside subshells: set -E), and the downloads keep their own error
# messages, so a container build log names the reason, not just "exit status 1".
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
cache="$root/.cache"
ORT_VERSION=${ORT_VERSION:-1.30.0}
MEDIAMTX_VERSION=${MEDIAMTX_VERSION:-v1.14.0}
mkdir -p "$bin/lib" "$cache"

log() { printf 'setup: %s\n' "$*" >&2; }

# step names what the script is doing, for the ERR trap's message.
step="starting"
on_err() {
  local rc=$1 line=$2 cmd=$3
  # A failed subshell "( ... )" has already named the command inside it.
  if [ "$BASHPID" = "$$" ] && [ "${cmd:0:1}" = "(" ]; then return; fi
  log "FAILED while $step: exit status $rc from \`$cmd\` (scripts/setup.sh line $line)"
}
trap 'on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR

command -v go >/dev/null 2>&1 || { log "Go 1.26 or newer is needed; it is not on PATH"; exit 1; }

# --- Debian packages -------------------------------------------------------
step="checking the Debian packages"
pkgs=(
  pkg-config gcc make git ca-certificates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  libgstrtspserver-1.0-dev
  mosquitto mosquitto-clients
)
# npm fetches the ONNX Runtime library and hls.js; a Node.js installed outside
# Debian's packages (as on these machines) is used as it is.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages: ${missing[*]}; run this script as root or install them with apt-get"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  step="updating the apt package lists (apt-get update; needs the Debian mirror in /etc/apt/sources.list*)"
  apt-get update -qq
  step="installing Debian packages ${missing[*]} (apt-get install; its errors are above)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian mosquitto package starts a broker on port 1883 at install; tests
# start their own on ports they pick, so the system one is left as it is.

# --- ONNX Runtime shared library --------------------------------------------
step="checking the ONNX Runtime library"
case "$(uname -m)" in
  x86_64|amd64) ort_arch=x64 ;;
  aarch64|arm64) ort_arch=arm64 ;;
  *) log "no ONNX Runtime build for $(uname -m); set EDGE_ORT_LIB"; ort_arch="" ;;
esac
ort_lib="$bin/lib/libonnxruntime.so.1"
if [ -n "${EDGE_ORT_LIB:-}" ]; then
  [ -f "$EDGE_ORT_LIB" ] || { log "EDGE_ORT_LIB=$EDGE_ORT_LIB does not exist"; exit 1; }
  log "using ONNX Runtime from EDGE_ORT_LIB=$EDGE_ORT_LIB"
elif [ ! -s "$ort_lib" ] || [ "$(cat "$bin/lib/.ort-version" 2>/dev/null)" != "$ORT_VERSION-$ort_arch" ]; then
  if [ -n "$ort_arch" ]; then
    log "fetching ONNX Runtime $ORT_VERSION ($ort_arch) from the npm package onnxruntime-node"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # npm's stdout is the tarball's name; its errors (registry, network, proxy)
    # go to stderr and stay in the log.
    step="downloading onnxruntime-node@$ORT_VERSION with npm pack from $(npm config get registry 2>/dev/null || echo 'the npm registry') (set EDGE_ORT_LIB to use a library you have)"
    (cd "$tmp" && npm pack --loglevel=error "onnxruntime-node@$ORT_VERSION" >/dev/null)
    step="unpacking libonnxruntime.so.1 ($ort_arch) from the onnxruntime-node@$ORT_VERSION tarball"
    tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" "package/bin/napi-v6/linux/$ort_arch/"
    src=$(ls "$tmp/package/bin/napi-v6/linux/$ort_arch"/libonnxruntime.so.1* | head -n 1)
    cp "$src" "$ort_lib.tmp" && mv "$ort_lib.tmp" "$ort_lib"
    echo "$ORT_VERSION-$ort_arch" >"$bin/lib/.ort-version"
    rm -rf "$tmp"; trap - EXIT
  fi
fi

# --- MediaMTX ----------------------------------------------------------------
step="checking MediaMTX"
mtx="$bin/mediamtx"
if [ ! -x "$mtx" ] || [ "$(cat "$bin/.mediamtx-version" 2>/dev/null)" != "$MEDIAMTX_VERSION" ]; then
  log "building MediaMTX $MEDIAMTX_VERSION from source (about a minute)"
  step="fetching the MediaMTX $MEDIAMTX_VERSION module (go get, GOPROXY=$(go env GOPROXY))"
  work="$cache/mediamtx-build"
  rm -rf "$work" && mkdir -p "$work/mod"
  (
    cd "$work/mod"
    go mod init mediamtx-fetch >/dev/null 2>&1
    GOFLAGS=-mod=mod go get "github.com/bluenviron/mediamtx@$MEDIAMTX_VERSION" >/dev/null 2>&1 ||
      GOFLAGS=-mod=mod go get "github.com/bluenviron/mediamtx@$MEDIAMTX_VERSION"
    modsrc=$(go list -m -f '{{.Dir}}' "github.com/bluenviron/mediamtx")
    cp -r "$modsrc" "$work/src"
    chmod -R u+w "$work/src"
  )
  step="downloading hls.js@1 with npm pack (MediaMTX's HLS player) and building MediaMTX $MEDIAMTX_VERSION"
  (
    cd "$work"
    npm pack --loglevel=error hls.js@1 >/dev/null
    tar -xzf hls.js-*.tgz package/dist/hls.min.js
    cp package/dist/hls.min.js src/internal/servers/hls/hls.min.js
    echo "$MEDIAMTX_VERSION" >src/internal/core/VERSION
    cd src
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$mtx.tmp" .
    mv "$mtx.tmp" "$mtx"
  )
  echo "$MEDIAMTX_VERSION" >"$bin/.mediamtx-version"
  rm -rf "$work"
fi

# --- nats-server ---------------------------------------------------------------
step="checking nats-server"
# The fleet's hub (deploy/hub) and its end-to-end tests (internal/fleete2e) run
# nats-server as processes: built from the version go.mod pins, from the module
# cache, so it is the same server the agent embeds.
nats_version=$(cd "$root" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2) || {
  log "cannot read the nats-server version from go.mod (go list -m github.com/nats-io/nats-server/v2 failed)"
  exit 1
}
nats="$bin/nats-server"
if [ ! -x "$nats" ] || [ "$(cat "$bin/.nats-server-version" 2>/dev/null)" != "$nats_version" ]; then
  log "building nats-server $nats_version from the module in go.mod"
  (cd "$root" && CGO_ENABLED=0 go build -o "$nats.tmp" github.com/nats-io/nats-server/v2) || {
    rm -f "$nats.tmp"
    log "building nats-server $nats_version failed (go build github.com/nats-io/nats-server/v2 in $root; run go mod download if the module cache lacks it)"
    exit 1
  }
  mv "$nats.tmp" "$nats"
  echo "$nats_version" >"$bin/.nats-server-version"
fi

step="reporting what is installed"
log "ready: $(gst-launch-1.0 --gst-version | head -n 1), ONNX Runtime ${EDGE_ORT_LIB:-$ort_lib}, MediaMTX $("$mtx" --version 2>/dev/null || echo "$MEDIAMTX_VERSION"), nats-server $nats_version"
