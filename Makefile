# edge-agent: `make demo` runs the product on this machine, `make test` runs
# every test. Both run `make setup` first, which installs what is missing
# (GStreamer, mosquitto, ONNX Runtime, MediaMTX, nats-server) and is quick when
# nothing is.

SHELL   := /bin/bash
GO      ?= go
# What --version, the start-up log, the heartbeat and the image labels report.
# An empty VERSION or COMMIT (make build VERSION=, or a container build's empty
# ARG) counts as unset. VERSION: git describe, else the file VERSION at the
# repository root (a source tarball without .git), else "dev". COMMIT: the
# short commit hash, else "unknown". $(or) stops at the first non-empty one.
override VERSION := $(or $(strip $(VERSION)),$(shell git describe --tags --always --dirty 2>/dev/null),$(strip $(file < VERSION)),dev)
override COMMIT  := $(or $(strip $(COMMIT)),$(shell git rev-parse --short HEAD 2>/dev/null),unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Tests of the whole product share two cores with GStreamer and ONNX Runtime.
TEST_TIMEOUT ?= 9m

# make image builds Dockerfile.$(IMAGE_FLAVOR) (x86 or jetson) with docker, or
# podman when docker is not on PATH (CONTAINER_ENGINE picks one), tagged
# $(IMAGE), stamped with VERSION and COMMIT (podman with --format docker, the
# format that keeps the HEALTHCHECK). IMAGE_BUILD_FLAGS adds flags, e.g.
# --build-arg GO_IMAGE=mirror.example/library/golang:1.26-bookworm.
IMAGE_FLAVOR      ?= x86
IMAGE             ?= edge-agent:$(IMAGE_FLAVOR)
CONTAINER_ENGINE  ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
IMAGE_BUILD_FLAGS ?=

.PHONY: all setup build demo test test-long test-short vet fmt bench bench-fleet clean image

all: build

# SETUP_ROLE=build (the images' build stage) installs only what compiling
# needs; the default, all, also what tests and the demo need (scripts/setup.sh).
SETUP_ROLE ?= all

setup:
	@bash scripts/setup.sh $(SETUP_ROLE)

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

image:
	@test -n "$(CONTAINER_ENGINE)" || { echo "make image: neither docker nor podman is on PATH: install one, or set CONTAINER_ENGINE=/path/to/engine" >&2; exit 1; }
	@case "$(IMAGE_FLAVOR)" in x86|jetson) ;; *) echo "make image: IMAGE_FLAVOR must be x86 or jetson, not '$(IMAGE_FLAVOR)'" >&2; exit 1 ;; esac
	$(CONTAINER_ENGINE) build -f Dockerfile.$(IMAGE_FLAVOR) \
	  --build-arg VERSION='$(VERSION)' --build-arg COMMIT='$(COMMIT)' \
	  $(if $(findstring podman,$(notdir $(CONTAINER_ENGINE))),--format docker) \
	  $(IMAGE_BUILD_FLAGS) -t '$(IMAGE)' .

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin .cache
