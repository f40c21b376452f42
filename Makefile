# muelle's make targets. The README's quick start uses two: `make demo` and
# `make test`; each does all of its own set-up (scripts/bootstrap).

export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
PKG     := github.com/muelle-dev/muelle
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X $(PKG)/internal/buildinfo.Version=$(VERSION) -X $(PKG)/internal/buildinfo.Commit=$(COMMIT)
# Docker tests build images and start stacks; give them room.
TEST_TIMEOUT ?= 45m
# Each fuzz target runs FUZZTIME in `make fuzz`, 5 s in `make test`.
FUZZTIME ?= 2m
FUZZ_TARGETS := FuzzVerifyGitHub FuzzDecideGitHub FuzzPayloadOf

.PHONY: all build bootstrap demo demo-down test unit check bench fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/muelle ./cmd/muelle

bootstrap:
	scripts/bootstrap

demo: bootstrap build
	scripts/demo

demo-down:
	scripts/demo down

## test: formatting, vet, unit tests, a short fuzz run and the Docker-backed
## tests, from nothing.
test: bootstrap check
	$(MAKE) fuzz FUZZTIME=5s
	MUELLE_REQUIRE_DOCKER=1 $(GO) test -tags docker -timeout $(TEST_TIMEOUT) -count=1 -v ./...

## fuzz: the webhook fuzz targets, FUZZTIME each (make fuzz FUZZTIME=10m).
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test ./internal/webhook -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

## unit: the tests that need no Docker engine.
unit:
	$(GO) test ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags docker ./...

## bench: run the benchmarks and write build/bench/results.md.
bench: bootstrap
	scripts/bench

clean:
	rm -rf bin build
