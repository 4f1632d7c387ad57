#!/usr/bin/python3
"""The PyTorch reference of `vqclip-bench step`: the same VQGAN+CLIP step on PyTorch's CPU
backend, with the same shapes, cutouts and threads, printing the same JSON fields.

Run by hand (never by CI) with Debian's python3-torch and the packages of make_render_fixtures.py:

    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/bench_reference.py --size 256 --threads 2 --json

The step is the notebooks' (taming's Decoder of vqgan_imagenet_f16_16384 and OpenAI's ViT-B/32 with
random weights, straight-through quantisation, clamp_with_grad, "original" cutouts with the Lanczos +
bicubic resample, spherical distance, Adam, codebook clamp), cut at the image as vqclip-bench cuts
it so that the two backward passes are timed apart. Peak RSS is the process's (ru_maxrss).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_render_fixtures import MEAN, STD, clamp_with_grad, prompt_loss, resample, vector_quantize  # noqa: E402
from make_vqgan_fixtures import VQModelLayout, ddconfig  # noqa: E402


def gemm_gflops(n=2048):
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = math.inf
    for _ in range(4):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best * 1e-9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--cutn", type=int, default=32)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from clip.model import CLIP
    vq = VQModelLayout(ddconfig(128, (1, 1, 2, 2, 4), 2, (16,), 256, 256), 16384, 256).eval()
    clip_model = CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).eval()
    for m in (vq, clip_model):
        for q in m.parameters():
            q.requires_grad_(False)
    gemm = gemm_gflops()
    codebook = vq.quantize.embedding.weight
    z_min = codebook.min(dim=0).values[None, :, None, None]
    z_max = codebook.max(dim=0).values[None, :, None, None]
    z = (0.05 * torch.randn(1, 256, a.size // 16, a.size // 16)).requires_grad_(True)
    target = torch.randn(1, 512)
    opt = torch.optim.Adam([z], lr=0.1)
    mean, std = torch.tensor(MEAN)[None, :, None, None], torch.tensor(STD)[None, :, None, None]
    phases = ["quantize", "decoder_forward", "cutouts", "clip_forward", "clip_backward", "decoder_backward", "optimizer"]
    runs = []
    for _ in range(a.steps + 1):
        t = {}

        def timed(name, fn):
            start = time.perf_counter()
            out = fn()
            t[name] = t.get(name, 0) + time.perf_counter() - start
            return out
        opt.zero_grad()
        zq = timed("quantize", lambda: vector_quantize(z.movedim(1, 3), codebook).movedim(3, 1))
        image = timed("decoder_forward", lambda: clamp_with_grad(vq.decoder(vq.post_quant_conv(zq)).add(1).div(2), 0, 1))
        leaf = image.detach().requires_grad_(True)

        def cutouts():
            cuts = []
            for _ in range(a.cutn):
                size = int(torch.rand([]) * (a.size - 224) + 224) if a.size > 224 else a.size
                ox = torch.randint(0, a.size - size + 1, ())
                oy = torch.randint(0, a.size - size + 1, ())
                cuts.append(resample(leaf[:, :, oy:oy + size, ox:ox + size], (224, 224)))
            return clamp_with_grad(torch.cat(cuts), 0, 1)
        views = timed("cutouts", cutouts)
        loss = timed("clip_forward", lambda: prompt_loss(clip_model.encode_image((views - mean) / std).float(), target, 1.0, -math.inf))
        timed("clip_backward", lambda: loss.backward())
        timed("decoder_backward", lambda: image.backward(leaf.grad))

        def step():
            opt.step()
            with torch.no_grad():
                z.copy_(z.maximum(z_min).minimum(z_max))
        timed("optimizer", step)
        runs.append(t)
    runs = runs[1:]

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    step_s = median([sum(r.values()) for r in runs])
    result = {"tool": "pytorch", "torch": torch.__version__, "size": a.size, "threads": a.threads, "cutn": a.cutn,
              "steps": a.steps, "step_s": round(step_s, 4),
              "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
              "breakdown": {k: round(median([r[k] for r in runs]), 4) for k in phases}, "gemm_gflops": round(gemm, 2)}
    if a.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        print(f"PyTorch {torch.__version__} step at {a.size}x{a.size}, {a.cutn} cutouts, {a.threads} threads: "
              f"{step_s:.3f} s, peak RSS {result['peak_rss_bytes'] / 1e9:.2f} GB")
        for k, v in result["breakdown"].items():
            print(f"  {k:18s} {v:7.3f} s")


if __name__ == "__main__":
    main()
