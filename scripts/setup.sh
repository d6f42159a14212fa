#!/usr/bin/env bash
# setup.sh installs what edge-agent needs on a Debian/Ubuntu machine. It is the
# one list of what gets installed, for a host and for the container images
# alike, idempotent, and takes a few seconds when everything is in place.
#
#   scripts/setup.sh [all]        this machine builds, tests and runs edge-agent
#                                 (make setup): the build packages, GStreamer and
#                                 its plugins, the test tools (gst-launch-1.0,
#                                 the RTSP server library, mosquitto), the ONNX
#                                 Runtime library, MediaMTX built from source and
#                                 nats-server (the fleet hub's, from go.mod).
#   scripts/setup.sh build        a container build stage: compilers, the GStreamer
#                                 -dev packages cgo compiles go-gst against, and the
#                                 ONNX Runtime library in bin/lib. Nothing for tests.
#   scripts/setup.sh runtime [DIR]
#                                 a container runtime stage: installs the GStreamer
#                                 runtime packages. With DIR, then copies into DIR,
#                                 keeping their paths, the GStreamer plugins the
#                                 agent uses (gst_plugins below), GStreamer's plugin
#                                 scanner, GIO's TLS module, the CA bundle and every
#                                 shared library those load (ldd), less what the
#                                 base image had before. A runtime image copies DIR
#                                 onto the same bare base image: GStreamer without
#                                 the GTK, Mesa, LLVM and speech libraries that the
#                                 Debian plugin packages depend on for elements the
#                                 agent never uses. Needs no Go.
#
# Environment:
#   EDGE_ORT_LIB        use this ONNX Runtime library instead of fetching one
#   ORT_VERSION         onnxruntime-node version on npm to take the library from (1.30.0)
#   MEDIAMTX_VERSION    MediaMTX version to build (v1.14.0)
#   HLSJS_VERSION       hls.js version MediaMTX embeds as its HLS player (1.7.4)
#   NPM_CONFIG_REGISTRY npm registry (or mirror) to fetch tarballs from; without
#                       it, npm's configured registry when npm is installed, else
#                       https://registry.npmjs.org. Tarballs are fetched with curl
#                       and checked against the registry's sha512 integrity; npm
#                       itself is not needed.
#
# A failing step says what it was doing and which command failed (the ERR trap
# below, also inside subshells: set -E), and the downloads keep their own error
# messages, so a container build log names the reason, not just "exit status 1".
set -Eeuo pipefail

role=${1:-all}
case "$role" in
  all | build) [ $# -le 1 ] || { echo "usage: scripts/setup.sh [all | build | runtime [DIR]]" >&2; exit 2; } ;;
  runtime) [ $# -le 2 ] || { echo "usage: scripts/setup.sh runtime [DIR] (the folder to copy the runtime files into)" >&2; exit 2; } ;;
  *) echo "usage: scripts/setup.sh [all | build | runtime [DIR]]; unknown role '$role'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
cache="$root/.cache"
ORT_VERSION=${ORT_VERSION:-1.30.0}
MEDIAMTX_VERSION=${MEDIAMTX_VERSION:-v1.14.0}
HLSJS_VERSION=${HLSJS_VERSION:-1.7.4}

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

# --- What gets installed -----------------------------------------------------
# Building: cgo compiles go-gst against GStreamer's headers; curl fetches the
# npm tarballs.
build_pkgs=(pkg-config gcc make git ca-certificates curl libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev)
# Running: GStreamer's plugins (the elements each one brings are listed at
# gst_plugins), GIO's TLS module for rtsps:// cameras, the CA bundle.
run_pkgs=(ca-certificates gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp glib-networking)
# Testing on a host: gst-launch-1.0/gst-inspect-1.0, the RTSP server the test
# cameras use (internal/rtspcam), mosquitto for the MQTT tests.
test_pkgs=(gstreamer1.0-tools libgstrtspserver-1.0-dev mosquitto mosquitto-clients)
# The plugin files (libgst<name>.so) a runtime image keeps, and the elements the
# agent takes from each (pipeline.RequiredElements and the hardware rows of
# pipeline/choose.go): coreelements (queue, filesrc, fakesink, capsfilter), app
# (appsrc, appsink), playback and typefindfunctions (decodebin), videoconvertscale
# (videoconvert, videoscale; GStreamer 1.22) or videoconvert and videoscale
# (older), videorate, videotestsrc, pbtypes (video caps types), rtsp (rtspsrc),
# rtp (rtph264depay, rtph265depay, the payloaders), rtpmanager (rtpbin), udp and
# tcp (rtspsrc's transports), avi, isomp4 and matroska (file sources), x264 and
# x265 (x264enc, x265enc), videoparsersbad (h264parse, h265parse), libav
# (avdec_h264, avdec_h265), rtspclientsink, nvcodec (nvh264dec, nvh264enc, ...:
# desktop NVIDIA GPUs) and va (vah264dec, vapostproc, ...: VA-API), the last two
# registering elements only where their drivers are. A plugin missing from a
# GStreamer release is skipped; edge-agent --check-gstreamer, run at the end of
# each image build, fails the build when a required element is missing.
gst_plugins=(coreelements app playback typefindfunctions videoconvertscale videoconvert videoscale
  videorate videotestsrc pbtypes rtsp rtp rtpmanager udp tcp avi isomp4 matroska x264 x265
  videoparsersbad libav rtspclientsink nvcodec va)

case "$role" in
  all) pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  build) pkgs=("${build_pkgs[@]}") ;;
  runtime) pkgs=("${run_pkgs[@]}") ;;
esac
if [ "$role" != runtime ]; then
  command -v go >/dev/null 2>&1 || { log "Go 1.26 or newer is needed; it is not on PATH"; exit 1; }
  mkdir -p "$bin/lib" "$cache"
fi

# --- Debian packages -------------------------------------------------------
step="checking the Debian packages"
# The runtime role leaves out of DIR the files of the packages the base image
# had before its first run installed anything (the image has them already),
# recorded then so that a second run in the same stage sees the same list.
base_list=/var/cache/edge-agent-setup/base-packages
if [ "$role" = runtime ] && [ $# -eq 2 ] && [ ! -s "$base_list" ]; then
  mkdir -p "$(dirname "$base_list")"
  dpkg-query -W -f='${Package}\n' | sort -u >"$base_list"
fi
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
  if [ "$role" != all ]; then
    # A container layer keeps no package lists or downloaded .debs.
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
  fi
fi
# The Debian mosquitto package starts a broker on port 1883 at install; tests
# start their own on ports they pick, so the system one is left as it is.

# --- Runtime files for an image ------------------------------------------------
if [ "$role" = runtime ]; then
  if [ $# -lt 2 ]; then
    log "runtime packages installed: ${run_pkgs[*]}"
    exit 0
  fi
  dir=$2
  step="finding GStreamer's plugin folder (from the files of libgstreamer1.0-0)"
  scanner=$(dpkg -L libgstreamer1.0-0 | grep '/gst-plugin-scanner$' | head -n 1)
  [ -n "$scanner" ] || { log "libgstreamer1.0-0 has no gst-plugin-scanner"; exit 1; }
  # <libdir>/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner -> <libdir>
  libdir=$(dirname "$(dirname "$(dirname "$scanner")")")
  plugindir="$libdir/gstreamer-1.0"
  # The libraries cgo links edge-agent and edge-camsim against (go-gst's
  # pkg-config packages: gstreamer-1.0, -app, -video, -controller), the plugin
  # scanner, the plugins.
  files=("$scanner" "$libdir/libgstapp-1.0.so.0" "$libdir/libgstvideo-1.0.so.0" "$libdir/libgstcontroller-1.0.so.0")
  for p in "${gst_plugins[@]}"; do
    [ -e "$plugindir/libgst$p.so" ] && files+=("$plugindir/libgst$p.so")
  done
  [ -e "$libdir/gio/modules/libgiognutls.so" ] && files+=("$libdir/gio/modules/libgiognutls.so")
  step="listing the shared libraries the plugins load (ldd)"
  libs=$(for f in "${files[@]}"; do
    if ldd "$f" | grep -q 'not found'; then
      log "$f needs a library that is not installed:"; ldd "$f" | grep 'not found' >&2; exit 1
    fi
    ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
  done | sort -u)
  step="copying the runtime files into $dir"
  mkdir -p "$dir"
  n=0
  for f in "${files[@]}" $libs /etc/ssl/certs/ca-certificates.crt; do
    # Real paths (merged /usr: /lib is a link to usr/lib), so that copying DIR
    # onto an image never replaces one of its links with a folder.
    real="$(cd "$(dirname "$f")" && pwd -P)/$(basename "$f")"
    # dpkg knows a file by the path its package installed it at: /usr/lib/...
    # or, for packages older than merged /usr, /lib/...
    owner=$({ dpkg -S "$real" || dpkg -S "$f" || dpkg -S "${real#/usr}"; } 2>/dev/null | head -n 1 | cut -d: -f1) || owner=""
    if [ -n "$owner" ] && grep -qxF "$owner" "$base_list"; then continue; fi
    mkdir -p "$dir$(dirname "$real")"
    cp -L "$f" "$dir$real"
    n=$((n + 1))
  done
  log "runtime files: $n files, $(du -sh "$dir" | cut -f1) in $dir (plugins from $plugindir)"
  exit 0
fi

# --- npm tarballs ---------------------------------------------------------------
# npm_fetch PACKAGE VERSION DEST downloads PACKAGE@VERSION's tarball from the npm
# registry into DEST with curl and checks it against the sha512 integrity the
# registry publishes for that version; a mismatch or a download error stops the
# script with the reason.
npm_registry() {
  local r=${NPM_CONFIG_REGISTRY:-}
  if [ -z "$r" ] && command -v npm >/dev/null 2>&1; then r=$(npm config get registry 2>/dev/null || true); fi
  r=${r:-https://registry.npmjs.org}
  printf '%s' "${r%/}"
}
npm_fetch() {
  local pkg=$1 version=$2 dest=$3 reg meta want got
  reg=$(npm_registry)
  step="downloading $pkg@$version from $reg"
  meta=$(curl -fsSL --retry 3 --connect-timeout 20 "$reg/$pkg/$version") || {
    log "could not read $reg/$pkg/$version (curl's error is above; set NPM_CONFIG_REGISTRY for a mirror)"; return 1; }
  want=$(grep -oE '"integrity": *"sha512-[^"]+"' <<<"$meta" | head -n 1 | sed -E 's/.*"sha512-([^"]+)"/\1/')
  [ -n "$want" ] || { log "the registry's metadata for $pkg@$version has no sha512 integrity: $reg/$pkg/$version"; return 1; }
  want=$(printf '%s' "$want" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  curl -fsSL --retry 3 --connect-timeout 20 -o "$dest" "$reg/$pkg/-/${pkg##*/}-$version.tgz" || {
    log "could not download $reg/$pkg/-/${pkg##*/}-$version.tgz (curl's error is above)"; return 1; }
  got=$(sha512sum "$dest" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    log "$pkg@$version from $reg does not match the registry's sha512 integrity (got $got, want $want)"
    rm -f "$dest"
    return 1
  fi
}

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
    npm_fetch onnxruntime-node "$ORT_VERSION" "$tmp/ort.tgz" || {
      log "fetching the ONNX Runtime library failed (set EDGE_ORT_LIB to use a library you have)"
      exit 1
    }
    step="unpacking libonnxruntime.so.1 ($ort_arch) from the onnxruntime-node@$ORT_VERSION tarball"
    tar -xzf "$tmp/ort.tgz" -C "$tmp" "package/bin/napi-v6/linux/$ort_arch/"
    src=$(ls "$tmp/package/bin/napi-v6/linux/$ort_arch"/libonnxruntime.so.1* | head -n 1)
    cp "$src" "$ort_lib.tmp" && mv "$ort_lib.tmp" "$ort_lib"
    echo "$ORT_VERSION-$ort_arch" >"$bin/lib/.ort-version"
    rm -rf "$tmp"; trap - EXIT
  fi
fi

if [ "$role" = build ]; then
  step="reporting what is installed"
  log "ready to build: GStreamer $(pkg-config --modversion gstreamer-1.0) headers, ONNX Runtime ${EDGE_ORT_LIB:-$ort_lib}"
  exit 0
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
  npm_fetch hls.js "$HLSJS_VERSION" "$work/hls.tgz"
  step="building MediaMTX $MEDIAMTX_VERSION with hls.js $HLSJS_VERSION as its HLS player"
  (
    cd "$work"
    tar -xzf hls.tgz package/dist/hls.min.js
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
