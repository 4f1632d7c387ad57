# vqclip — build, demo, test and benchmark entry points.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libpng-dev zlib1g-dev libjpeg62-turbo-dev libgif-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/release

.PHONY: deps build demo test bench clean

## deps: install the system libraries (OpenBLAS, libpng, zlib, libjpeg, giflib) when any is missing
deps:
	@if ! pkg-config --exists openblas libpng16 zlib libjpeg 2>/dev/null || [ ! -f /usr/include/gif_lib.h ]; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi

## build: release build of the vqclip tool
build: deps
	$(SWIFT) build -c release --product vqclip

## demo: build and run the main job on the embedded default; results land in outputs/
demo: build
	$(BIN)/vqclip demo --output outputs

## test: the whole test suite
test: deps
	$(SWIFT) test

## bench: op-level benchmarks (GEMM, conv2d at decoder shapes, attention), printed as a table
bench: deps
	$(SWIFT) build -c release --product vqclip-bench
	$(BIN)/vqclip-bench

clean:
	rm -rf .build
