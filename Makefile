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

## test: formatting, vet, unit tests and the Docker-backed tests, from nothing.
test: bootstrap check
	MUELLE_REQUIRE_DOCKER=1 $(GO) test -tags docker -timeout $(TEST_TIMEOUT) -count=1 -v ./...

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
