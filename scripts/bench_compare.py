#!/usr/bin/env python3
"""Prints vqclip's and PyTorch's step figures side by side (JSON lines from `vqclip-bench step
--json` and scripts/bench_reference.py) with the ratio vqclip / PyTorch per figure, and the share
of its own GEMM rate vqclip's whole step reaches.

    scripts/bench_compare.py .bench/vqclip-256.json [.bench/pytorch-256.json]
"""
import json
import sys

# Multiply-adds of one step are not known here; the FLOP rate counts the decoder's 3x3
# convolutions (as direct convolutions, although vqclip runs most of them as Winograd, with a
# quarter of the multiplies) and CLIP's matrix products at this size, forward and input gradient
# (the weights are frozen, so backward costs about what forward does).


def step_flops(size, cutn):
    chans = [128, 128, 256, 256, 512]   # f16_16384 decoder widths per level (0 = full size)
    flops = 0.0
    for level, c in enumerate(chans):
        pixels = (size >> level) ** 2
        blocks = 3 if level < 4 else 3 + 2      # num_res_blocks + 1, plus the middle block at the bottom
        flops += blocks * 2 * 2 * 9 * c * c * pixels
    tokens, width, layers = 50, 768, 12
    flops += cutn * layers * (2 * 12 * tokens * width * width + 2 * 2 * tokens * tokens * width)
    return 2 * flops                              # forward + input-gradient backward


def main():
    ours = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
    ref = None
    if len(sys.argv) > 2:
        try:
            ref = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
        except (OSError, ValueError):
            ref = None
    rows = [("step_s", ours["step_s"], ref and ref["step_s"]),
            ("peak_rss_GB", ours["peak_rss_bytes"] / 1e9, ref and ref["peak_rss_bytes"] / 1e9)]
    rows += [(k, v, ref and ref["breakdown"].get(k)) for k, v in ours["breakdown"].items()]
    title = f"step at {ours['size']}x{ours['size']}, {ours['cutn']} cutouts, {ours['threads']} threads"
    print(title + (f" (PyTorch {ref['torch']})" if ref else " (no PyTorch reference: make bench-reference)"))
    print(f"  {'figure':18s} {'vqclip':>9s} {'pytorch':>9s} {'ratio':>7s}")
    for name, a, b in rows:
        ratio = f"{a / b:7.2f}" if b else "      -"
        print(f"  {name:18s} {a:9.3f} {(f'{b:9.3f}' if b else '        -')} {ratio}")
    rate = step_flops(ours["size"], ours["cutn"]) / ours["step_s"] * 1e-9
    print(f"  whole step at {rate:.1f} direct-equivalent GFLOP/s = {rate / ours['gemm_gflops']:.2f} of this run's sgemm rate "
          f"({ours['gemm_gflops']:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
