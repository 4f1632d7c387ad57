# vqclip — build, demo, test and benchmark entry points.
SWIFT ?= swift
# libjpeg-dev: Debian's and Ubuntu's name for the libjpeg-turbo headers (libjpeg62-turbo-dev on
# Debian, libjpeg-turbo8-dev on Ubuntu).
APT_PACKAGES := libopenblas-dev libpng-dev zlib1g-dev libjpeg-dev libgif-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/release

.PHONY: deps build demo test bench bench-reference clean

## deps: install the system libraries (OpenBLAS, libpng, zlib, libjpeg, giflib) when any is missing
deps:
	@if ! pkg-config --exists openblas libpng16 zlib libjpeg 2>/dev/null || [ ! -f /usr/include/gif_lib.h ]; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi

## build: release build of the vqclip tool
build: deps
	$(SWIFT) build -c release --product vqclip

## demo: build, then render the ShapeWorld prompts of prompts/shapes.txt with the embedded models into outputs/demo/
demo: build
	$(BIN)/vqclip batch prompts/shapes.txt --output-dir outputs/demo --animate --frame-every 2
	@echo
	@echo "Look at outputs/demo/index.html (a gallery of the results), outputs/demo/*.png, and each"
	@echo "render's progress in outputs/demo/<name>-frames/ (animation.gif, contact-sheet.png)."

## test: the whole test suite
test: deps
	$(SWIFT) test

## bench: op-level benchmarks, then the whole step at BENCH_SIZES beside PyTorch's when make bench-reference has run
BENCH_SIZES ?= 128 256 512
BENCH_THREADS ?= 2
bench: deps
	$(SWIFT) build -c release --product vqclip-bench
	$(BIN)/vqclip-bench
	@mkdir -p .bench
	@for n in $(BENCH_SIZES); do \
		$(BIN)/vqclip-bench step --size $$n --threads $(BENCH_THREADS) --json > .bench/vqclip-$$n.json && \
		python3 scripts/bench_compare.py .bench/vqclip-$$n.json .bench/pytorch-$$n.json; \
	done

## bench-reference: the same step on PyTorch (Debian python3-torch + the packages in scripts/make_render_fixtures.py)
bench-reference:
	@mkdir -p .bench
	@for n in $(BENCH_SIZES); do \
		PYTHONPATH=$${PYTHONPATH:-/tmp/pydeps} /usr/bin/python3 scripts/bench_reference.py --size $$n --threads $(BENCH_THREADS) --json \
			> .bench/pytorch-$$n.json || exit 1; \
	done

clean:
	rm -rf .build
