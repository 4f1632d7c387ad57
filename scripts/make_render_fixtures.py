#!/usr/bin/python3
"""Writes the render-step parity fixture Tests/GenerationTests/Fixtures/render_step.safetensors.

Run by hand (never by CI) with Debian's python3-torch:

    pip install --no-deps --target /tmp/pydeps taming-transformers-rom1504 einops omegaconf \
        antlr4-python3-runtime PyYAML clip-anytorch ftfy regex wcwidth
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_render_fixtures.py
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_render_fixtures.py full /tmp/render-full

One step of the classic VQGAN+CLIP loop (the notebooks' generate.py: vector_quantize with a
straight-through gradient, decode, clamp_with_grad, "original" cutouts resampled with Lanczos +
bicubic, clamp_with_grad again, CLIP's normalisation, spherical distance per prompt with weight
sign and stop gate, the init-weight MSE term, Adam lr 0.1, z clamped to the codebook's range),
written out here from that algorithm, on
- taming's Encoder/Decoder/VectorQuantizer2 with the weights of Tests/VQGANTests/Fixtures/tiny.ckpt,
- clip-anytorch's CLIP built from Tests/CLIPTests/Fixtures/clip-small-openai.safetensors,
with fixed z, fixed cutout windows and fixed token ids (the small CLIP has a 320-token vocabulary).

`full` runs the same step at vqgan_imagenet_f16_16384 + ViT-B/32 shapes with random weights and
writes the weights and the reference into a folder outside the repository (hundreds of MB);
the Swift test reads it from VQCLIP_RENDER_FULL_FIXTURE when set.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vqgan_fixtures import VQModelLayout, ddconfig, lightning_checkpoint, randomize_, write_safetensors  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "GenerationTests", "Fixtures")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


# ------------------------------------------------------------------------------------------------
# The loop's pieces, as generate.py defines them.

class ReplaceGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_forward, x_backward):
        ctx.shape = x_backward.shape
        return x_forward

    @staticmethod
    def backward(ctx, grad_in):
        return None, grad_in.sum_to_size(ctx.shape)


class ClampWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, min, max):
        ctx.min = min
        ctx.max = max
        ctx.save_for_backward(input)
        return input.clamp(min, max)

    @staticmethod
    def backward(ctx, grad_in):
        input, = ctx.saved_tensors
        return grad_in * (grad_in * (input - input.clamp(ctx.min, ctx.max)) >= 0), None, None


replace_grad = ReplaceGrad.apply
clamp_with_grad = ClampWithGrad.apply


def vector_quantize(x, codebook):
    d = x.pow(2).sum(dim=-1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * x @ codebook.T
    indices = d.argmin(-1)
    x_q = F.one_hot(indices, codebook.shape[0]).to(d.dtype) @ codebook
    return replace_grad(x_q, x)


def sinc(x):
    return torch.where(x != 0, torch.sin(math.pi * x) / (math.pi * x), x.new_ones([]))


def lanczos(x, a):
    cond = torch.logical_and(-a < x, x < a)
    out = torch.where(cond, sinc(x) * sinc(x / a), x.new_zeros([]))
    return out / out.sum()


def ramp(ratio, width):
    n = math.ceil(width / ratio + 1)
    out = torch.empty([n])
    cur = 0
    for i in range(out.shape[0]):
        out[i] = cur
        cur += ratio
    return torch.cat([-out[1:].flip([0]), out])[1:-1]


def resample(input, size, align_corners=True):
    n, c, h, w = input.shape
    dh, dw = size
    input = input.reshape([n * c, 1, h, w])
    if dh < h:
        kernel_h = lanczos(ramp(dh / h, 2), 2).to(input.device, input.dtype)
        pad_h = (kernel_h.shape[0] - 1) // 2
        input = F.pad(input, (0, 0, pad_h, pad_h), 'reflect')
        input = F.conv2d(input, kernel_h[None, None, :, None])
    if dw < w:
        kernel_w = lanczos(ramp(dw / w, 2), 2).to(input.device, input.dtype)
        pad_w = (kernel_w.shape[0] - 1) // 2
        input = F.pad(input, (pad_w, pad_w, 0, 0), 'reflect')
        input = F.conv2d(input, kernel_w[None, None, None, :])
    input = input.reshape([n, c, h, w])
    return F.interpolate(input, size, mode='bicubic', align_corners=align_corners)


def spherical_dist_loss(x, y):
    x = F.normalize(x, dim=-1)
    y = F.normalize(y, dim=-1)
    return (x - y).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def prompt_loss(image_features, embed, weight, stop):
    dists = spherical_dist_loss(image_features.unsqueeze(1), embed.unsqueeze(0))
    dists = dists * (1.0 if weight >= 0 else -1.0)
    return abs(weight) * replace_grad(dists, torch.maximum(dists, torch.tensor(stop))).mean()


# ------------------------------------------------------------------------------------------------

def load_tiny_vqgan():
    import yaml
    with open(os.path.join(ROOT, "Tests", "VQGANTests", "Fixtures", "tiny.yaml")) as f:
        params = yaml.safe_load(f)["model"]["params"]
    model = VQModelLayout(params["ddconfig"], params["n_embed"], params["embed_dim"])
    lightning_checkpoint({})  # registers the stand-in Lightning class the checkpoint pickles
    ckpt = torch.load(os.path.join(ROOT, "Tests", "VQGANTests", "Fixtures", "tiny.ckpt"), map_location="cpu")
    sd = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}
    model.load_state_dict(sd, strict=True)
    return model.float().eval()


def load_small_clip():
    from clip.model import build_model
    from safetensors.torch import load_file
    sd = load_file(os.path.join(ROOT, "Tests", "CLIPTests", "Fixtures", "clip-small-openai.safetensors"))
    return build_model({k: v.float() for k, v in sd.items()}).float().eval()


def reference_step(vqgan, clip_model, z0, windows, cut_size, token_rows, weights, stops, init_weight, z_orig=None):
    """One step; returns the loss, its parts, dL/dz and z after the update and the clamp."""
    codebook = vqgan.quantize.embedding.weight
    z_min = codebook.min(dim=0).values[None, :, None, None]
    z_max = codebook.max(dim=0).values[None, :, None, None]
    z = z0.clone().requires_grad_(True)
    z_orig = z0.clone() if z_orig is None else z_orig
    opt = torch.optim.Adam([z], lr=0.1)

    with torch.no_grad():
        text = clip_model.encode_text(token_rows).float()
    z_q = vector_quantize(z.movedim(1, 3), codebook).movedim(3, 1)
    out = clamp_with_grad(vqgan.decoder(vqgan.post_quant_conv(z_q)).add(1).div(2), 0, 1)
    cutouts = [resample(out[:, :, t:t + s, l:l + s], (cut_size, cut_size)) for (t, l, s) in windows]
    cutouts = clamp_with_grad(torch.cat(cutouts, dim=0), 0, 1)
    normalized = (cutouts - torch.tensor(MEAN)[None, :, None, None]) / torch.tensor(STD)[None, :, None, None]
    features = clip_model.encode_image(normalized).float()
    parts = [prompt_loss(features, text[i:i + 1], weights[i], stops[i]) for i in range(len(weights))]
    if init_weight:
        parts.append(F.mse_loss(z, z_orig) * init_weight / 2)
    loss = sum(parts)
    opt.zero_grad()
    loss.backward()
    grad = z.grad.detach().clone()
    opt.step()
    with torch.no_grad():
        z.copy_(z.maximum(z_min).minimum(z_max))
    return loss.detach(), torch.stack([p.detach() for p in parts]), grad, z.detach(), out.detach(), cutouts.detach()


def nearest_gap(z, codebook):
    """Smallest relative gap between the best and second-best code distance (float64)."""
    zf = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double()
    d = ((zf[:, None, :] - codebook.double()[None]) ** 2).sum(-1)
    top2 = torch.topk(d, 2, dim=1, largest=False).values
    return ((top2[:, 1] - top2[:, 0]) / top2[:, 1].clamp_min(1e-12)).min().item()


def make_tiny():
    torch.manual_seed(7)
    vqgan = load_tiny_vqgan()
    clip_model = load_small_clip()
    codebook = vqgan.quantize.embedding.weight.detach()
    height, width, f = 48, 64, 2
    # z: random codes plus a little noise (kept clear of ties between codes).
    for _ in range(100):
        indices = torch.randint(0, codebook.shape[0], (height // f * width // f,))
        z0 = codebook[indices].reshape(1, height // f, width // f, -1).permute(0, 3, 1, 2).contiguous()
        z_orig = z0
        z0 = z0 + 0.05 * torch.randn_like(z0)
        if nearest_gap(z0, codebook) > 1e-3:
            break
    else:
        raise SystemExit("no z clear of code ties")
    # As in make_full: scale the last convolution so that the image stays inside (0, 1). Where
    # pixels saturate, the cutouts' clamp rule is decided by the last bit of resampled flat regions,
    # so two correct implementations may pass different gradients there. The test applies the same
    # float32 factor (metadata conv_out_scale) to the checkpoint's weights.
    with torch.no_grad():
        z_q = vector_quantize(z0.movedim(1, 3), codebook).movedim(3, 1)
        peak = vqgan.decoder(vqgan.post_quant_conv(z_q)).abs().max()
        scale = torch.tensor(0.9 / peak.item(), dtype=torch.float32)
        vqgan.decoder.conv_out.weight.mul_(scale)
        vqgan.decoder.conv_out.bias.mul_(scale)
    cut_size = clip_model.visual.input_resolution
    # Shrunk, same-size and enlarged windows, touching every border.
    windows = [(0, 0, 48), (8, 10, 32), (20, 40, 24), (5, 16, 40), (30, 0, 18)]
    vocab = clip_model.token_embedding.weight.shape[0]
    ctx = clip_model.positional_embedding.shape[0]
    lengths = [6, 9, 5]
    tokens = torch.zeros(len(lengths), ctx, dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, 0] = vocab - 2
        tokens[i, 1:n - 1] = torch.randint(1, vocab - 2, (n - 2,))
        tokens[i, n - 1] = vocab - 1
    weights = [1.0, -0.5, 0.7]
    # The third prompt's stop sits between the middle two of its sorted distances, so the gate
    # passes some views only, and none sits near the gate (where the last bit would decide).
    stops = [-math.inf, -math.inf, -math.inf]
    loss, parts, grad, z1, out, cutouts = reference_step(vqgan, clip_model, z0, windows, cut_size, tokens,
                                                         weights, stops, 0.0)
    with torch.no_grad():
        feats = clip_model.encode_image((cutouts - torch.tensor(MEAN)[None, :, None, None]) /
                                        torch.tensor(STD)[None, :, None, None]).float()
        text = clip_model.encode_text(tokens[2:3]).float()
        dists = spherical_dist_loss(feats.unsqueeze(1), text.unsqueeze(0)).flatten()
    ordered = dists.sort().values
    stops[2] = float((ordered[len(ordered) // 2] + ordered[len(ordered) // 2 + 1]) / 2)
    init_weight = 0.3
    loss, parts, grad, z1, out, cutouts = reference_step(vqgan, clip_model, z0, windows, cut_size, tokens,
                                                         weights, stops, init_weight, z_orig)
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "render_step.safetensors"), {
        "z0": z0, "z_orig": z_orig, "windows": torch.tensor(windows, dtype=torch.float32), "tokens": tokens.float(),
        "weights": torch.tensor(weights), "stops": torch.tensor([-1e30 if math.isinf(s) else s for s in stops]),
        "loss": loss.reshape(1), "parts": parts, "grad_z": grad, "z1": z1, "image": out, "cutouts": cutouts,
    }, metadata={"init_weight": str(init_weight), "height": str(height), "width": str(width),
                 "conv_out_scale": repr(scale.item()),
                 "optimizer": "Adam lr 0.1", "source": "scripts/make_render_fixtures.py"})
    print("loss", loss.item(), "parts", parts.tolist(), "|grad|", grad.norm().item(),
          "|dz|", (z1 - z0).abs().max().item())


def make_full(outdir):
    """f16_16384 + ViT-B/32 shapes, random weights, 256x256, 8 windows."""
    from clip.model import CLIP
    torch.manual_seed(11)
    cfg = ddconfig(128, (1, 1, 2, 2, 4), 2, (16,), 256, 256)
    vqgan = VQModelLayout(cfg, 16384, 256).float().eval()
    randomize_(vqgan, torch.Generator().manual_seed(3))
    clip_model = CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).float().eval()
    with torch.no_grad():
        for p in clip_model.parameters():
            p.copy_(p.half().float())
    codebook = vqgan.quantize.embedding.weight.detach()
    indices = torch.randint(0, 16384, (16 * 16,))
    z0 = codebook[indices].reshape(1, 16, 16, 256).permute(0, 3, 1, 2).contiguous()
    # Random weights saturate a fifth of the pixels at 0 or 1, where the cutouts' clamp rule is
    # decided by rounding (a flat region of 1.0 resamples to 1 +- 1 ulp) and both sides are
    # right; scaling the last convolution keeps the image inside (0, 1) so that the gradients
    # can be compared.
    with torch.no_grad():
        peak = vqgan.decoder(vqgan.post_quant_conv(z0)).abs().max()
        vqgan.decoder.conv_out.weight.mul_(0.9 / peak)
        vqgan.decoder.conv_out.bias.mul_(0.9 / peak)
    import clip
    tokens = clip.tokenize(["a lighthouse at dusk", "blurry"])
    windows = [(0, 0, 256), (10, 20, 224), (30, 5, 160), (100, 90, 120), (0, 32, 224), (5, 5, 200),
               (60, 60, 180), (200, 200, 56)]
    loss, parts, grad, z1, out, cutouts = reference_step(vqgan, clip_model, z0, windows, 224, tokens,
                                                         [1.0, -0.3], [-math.inf, -math.inf], 0.0)
    os.makedirs(outdir, exist_ok=True)
    write_safetensors(os.path.join(outdir, "vqgan.safetensors"), vqgan.state_dict())
    write_safetensors(os.path.join(outdir, "clip.safetensors"), clip_model.state_dict())
    write_safetensors(os.path.join(outdir, "render_step.safetensors"), {
        "z0": z0, "windows": torch.tensor(windows, dtype=torch.float32), "tokens": tokens.float(),
        "weights": torch.tensor([1.0, -0.3]), "stops": torch.tensor([-1e30, -1e30]),
        "loss": loss.reshape(1), "parts": parts, "grad_z": grad, "z1": z1,
    }, metadata={"init_weight": "0", "height": "256", "width": "256"})
    print("loss", loss.item(), "|grad|", grad.norm().item())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        make_full(sys.argv[2])
    else:
        make_tiny()
