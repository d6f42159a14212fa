#!/usr/bin/env bash
# demo.sh runs the whole product on this machine: a MediaMTX server, a camera
# (the simulated one unless EDGE_CAMERA_URL names a real one) and edge-agent,
# until Ctrl-C. Everything it starts stops with it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
shared="$root/../shared"
rtsp_port=${DEMO_RTSP_PORT:-8554}
hls_port=${DEMO_HLS_PORT:-8888}
api_port=${DEMO_API_PORT:-9997}
camera=${EDGE_CAMERA_NAME:-cam1}
state=$(mktemp -d)
pids=()

cleanup() {
  trap - EXIT INT TERM
  # Last started, first stopped: the agent and the camera before MediaMTX.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

say() { printf '\033[1mdemo:\033[0m %s\n' "$*" >&2; }

# The model: the one asked for, else the agent's built-in marker detector.
model=${EDGE_MODEL_PATH:-}

# MediaMTX on loopback, with the browser player (HLS) on.
cat >"$state/mediamtx.yml" <<YML
logLevel: warn
rtspAddress: 127.0.0.1:$rtsp_port
rtpAddress: 127.0.0.1:18000
rtcpAddress: 127.0.0.1:18001
rtmp: no
srt: no
webrtc: no
hls: yes
hlsAddress: 127.0.0.1:$hls_port
hlsVariant: lowLatency
api: yes
apiAddress: 127.0.0.1:$api_port
metrics: no
pprof: no
playback: no
paths:
  all_others:
YML
"$bin/mediamtx" "$state/mediamtx.yml" &
pids+=($!)
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$rtsp_port") 2>/dev/null && break
  sleep 0.1
done

# The camera: a real one, or edge-camsim standing in for a 720p/15 fps H.264
# camera. With the built-in model it renders the synthetic marker scene; with
# a real model it loops the pedestrians footage (a test pattern when the
# footage is not there). Either way its frames carry the time-code strip that
# edge-probe reads on the annotated stream to measure glass-to-glass latency.
camera_url=${EDGE_CAMERA_URL:-}
probe=no
if [ -z "$camera_url" ]; then
  source=synthetic
  if [ -n "$model" ]; then
    source=testsrc
    [ -f "$shared/media/vtest.avi" ] && source="$shared/media/vtest.avi"
  fi
  camera_url="rtsp://127.0.0.1:$rtsp_port/$camera"
  say "simulated camera: $source → $camera_url (1280x720, 15 fps, H.264)"
  "$bin/edge-camsim" --source "$source" --timecode --url "$camera_url" --fps 15 --size 1280x720 &
  pids+=($!)
  probe=yes
fi

out="rtsp://127.0.0.1:$rtsp_port/$camera-annotated"
say "model: ${model:-the built-in marker detector (red, green, blue and yellow rectangles)}"
say "watch the annotated stream:  $out   (e.g. gst-play-1.0 $out, ffplay, VLC)"
say "or in a browser:             http://127.0.0.1:$hls_port/$camera-annotated/"
say "events: NATS nats://127.0.0.1:4222, subject edge.<device>.$camera.detections (JetStream stream EDGE_<device>);"
say "        MQTT too when EDGE_MQTT_URL is set (e.g. tcp://127.0.0.1:1883: mosquitto_sub -t 'edge-agent/#' -v)"
say "the agent's log summarises detections and latency every 2 s; Ctrl-C stops everything."

# The annotated stream is encoded while MediaMTX's API (loopback, no login in
# this demo's MediaMTX) lists a reader of it, one frame a second otherwise.
EDGE_CAMERA_URL="$camera_url" EDGE_MODEL_PATH="$model" EDGE_CAMERA_NAME="$camera" \
  EDGE_OUTPUT_URL="${EDGE_OUTPUT_URL:-$out}" EDGE_REPORT_INTERVAL="${EDGE_REPORT_INTERVAL:-2s}" \
  EDGE_MEDIAMTX_API="${EDGE_MEDIAMTX_API:-http://127.0.0.1:$api_port}" EDGE_STATE_DIR="${EDGE_STATE_DIR:-$state/agent}" \
  "$bin/edge-agent" &
agent=$!
pids+=($agent)

if [ "$probe" = yes ]; then
  # Glass-to-glass latency of the annotated stream, every 5 s.
  "$bin/edge-probe" --url "$out" --interval 5s 2>&1 | sed -u 's/^/probe: glass-to-glass /' &
  pids+=($!)
fi
wait "$agent"
