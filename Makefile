# edge-agent: `make demo` runs the product on this machine, `make test` runs
# every test. Both run `make setup` first, which installs what is missing
# (GStreamer, mosquitto, ONNX Runtime, MediaMTX) and is quick when nothing is.

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Tests of the whole product share two cores with GStreamer and ONNX Runtime.
TEST_TIMEOUT ?= 9m

.PHONY: all setup build demo test test-long test-short vet fmt bench bench-fleet clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...
	bin/edge-genmodel -o bin/models/markers.onnx

demo: build
	@bash scripts/demo.sh

vet:
	$(GO) vet ./...

test: setup
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@# Two passes. The race detector slows Go code tenfold, which would turn the
	@# end-to-end tests' real-time checks (15 fps in, 80% of it out, latency)
	@# into measurements of the detector: so it checks every unit test, and
	@# the end-to-end tests run at full speed. -p 1 keeps packages' camera,
	@# encoder and model runs from competing for the two cores.
	$(GO) test -race -short -count=1 -p 1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -p 1 -timeout $(TEST_TIMEOUT) ./...

# The fault tests that take minutes (brokers frozen and killed for 30 s
# each, …): tests that skip unless EDGE_TEST_LONG is set. CI runs them after
# make test.
test-long: setup
	EDGE_TEST_LONG=1 $(GO) test -count=1 -p 1 -timeout 20m -run '^TestLong' ./...

# Unit tests only: no MediaMTX, no camera, no model runs.
test-short: setup
	$(GO) test -short -count=1 ./...

# Latency and multi-camera benchmarks on this machine (about 20 minutes; run it
# when nothing else does): writes docs/BENCHMARKS.md, docs/bench/results.json and
# docs/bench/latency.png. BENCH_FLAGS=--short makes a smoke run,
# BENCH_FLAGS="--only multicam" runs the multi-camera section alone,
# BENCH_FLAGS="--only cpu" the CPU section (RGB against YUV, annotation on demand).
bench: build
	bin/edge-bench $(BENCH_FLAGS)

# The fleet at scale (about 3 minutes; run it when nothing else does): 20
# agents as leaf nodes of a three-node hub, fleet KV writes to every device
# reporting them applied, events produced against gathered at the hub; prints
# the table docs/fleet.md records. EDGE_FLEET_AGENTS, EDGE_FLEET_WRITES,
# EDGE_FLEET_WINDOW (seconds) and EDGE_FLEET_FPS change its size.
bench-fleet: setup
	EDGE_FLEET_SCALE=1 $(GO) test -count=1 -p 1 -timeout 20m -v -run '^TestFleetScale$$' ./internal/fleete2e/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin .cache
