#!/usr/bin/python3
"""Writes the VQGAN parity fixtures under Tests/VQGANTests/Fixtures.

Run by hand (never by CI) with Debian's python3-torch:

    pip install --no-deps --target /tmp/pydeps taming-transformers-rom1504 einops \
        omegaconf antlr4-python3-runtime PyYAML
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_vqgan_fixtures.py

Only `taming.modules.*` is imported (taming.models pulls in pytorch_lightning); the VQModel
attribute layout (encoder, decoder, loss, quantize, quant_conv, post_quant_conv) is rebuilt in a
small nn.Module so that state-dict names, shapes and order are the real ones.

Outputs (all small):
- {tiny,mid}_weights.safetensors: VQModel state dict, values rounded to float16 and stored as F16
  (the reference runs in float32 on exactly those values). mid is 2.3 MB: GroupNorm(32) forces
  at least 32 channels, and every f16_16384 feature (nin_shortcut to 64 channels, attention at two
  levels, four resolutions) costs 64-channel blocks; float16 halves it.
- {tiny,mid}_io.safetensors: input image, encoder output h, quant_conv output z, quantized z_q,
  indices (I64), decoder output, the fixed tensor R of the loss sum(decoder(st(z)) * R), its
  gradient d loss / d z, the gradient of sum(h * R_h) with respect to the image, and (tiny only)
  gradients of a few weights.
- disc_{bn,actnorm}_{weights,io}.safetensors: NLayerDiscriminator with BatchNorm (eval and train
  mode outputs) and with ActNorm, plus d loss / d input for sum(D(x) * R).
- tiny.ckpt + tiny.yaml: a Lightning-format checkpoint of the tiny model (float32, with a small
  discriminator and LPIPS scaling buffers under loss.*) and its taming model.yaml.
- f16_16384_keys.json, gumbel_f8_8192_keys.json: every state-dict key of the f16_16384 VQModel
  and of the gumbel f8 GumbelVQ, with shape and dtype.
"""
import functools
import io
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn as nn

from taming.modules.diffusionmodules.model import Encoder, Decoder
from taming.modules.vqvae.quantize import VectorQuantizer2
from taming.modules.discriminator.model import NLayerDiscriminator, weights_init

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "VQGANTests", "Fixtures")

DTYPES = {torch.float32: ("F32", np.float32), torch.float16: ("F16", np.float16),
          torch.int64: ("I64", np.int64), torch.uint8: ("U8", np.uint8)}


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: 8-byte header length, JSON header, contiguous little-endian data."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        code, npdt = DTYPES[t.dtype]
        raw = t.numpy().astype(npdt).astype(np.dtype(npdt).newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


class VQModelLayout(nn.Module):
    """taming.models.vqgan.VQModel's submodules in registration order."""

    def __init__(self, ddconfig, n_embed, embed_dim, loss=None):
        super().__init__()
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        if loss is not None:
            self.loss = loss
        self.quantize = VectorQuantizer2(n_embed, embed_dim, beta=0.25)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)


def ddconfig(ch, ch_mult, num_res_blocks, attn_resolutions, z_channels, resolution):
    return dict(double_z=False, z_channels=z_channels, resolution=resolution, in_channels=3, out_ch=3,
                ch=ch, ch_mult=list(ch_mult), num_res_blocks=num_res_blocks,
                attn_resolutions=list(attn_resolutions), dropout=0.0)


def randomize_(module, gen):
    """Replaces every float parameter by random values rounded to float16 (norm weights around 1),
    so that a transposed or swapped tensor changes the outputs."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight") \
                    or name.endswith("norm_out.weight"):
                v = 1 + 0.2 * torch.randn(p.shape, generator=gen)
            elif p.dim() == 1:
                v = 0.1 * torch.randn(p.shape, generator=gen)
            else:
                fan_in = p[0].numel()
                v = torch.randn(p.shape, generator=gen) * (1.0 / fan_in) ** 0.5
            p.copy_(v.half().float())


def quantize_reference(z, codebook):
    """VectorQuantizer2's distance and argmin on [B,C,H,W] z; also returns the smallest relative gap
    between the best and second-best distance (computed in float64) to rule out near ties."""
    b, c, h, w = z.shape
    zf = z.permute(0, 2, 3, 1).reshape(-1, c)
    d = torch.sum(zf ** 2, dim=1, keepdim=True) + torch.sum(codebook ** 2, dim=1) - 2 * zf @ codebook.t()
    idx = torch.argmin(d, dim=1)
    d64 = ((zf.double()[:, None, :] - codebook.double()[None]) ** 2).sum(-1)
    top2 = torch.topk(d64, 2, dim=1, largest=False).values
    gap = ((top2[:, 1] - top2[:, 0]) / top2[:, 1].abs().clamp_min(1e-12)).min().item()
    assert torch.equal(idx, torch.argmin(d64, dim=1)), "float32 and float64 argmin disagree"
    return idx, gap


def make_model_fixture(tag, cfg, n_embed, embed_dim, x_shape, seed, weight_grads=()):
    gen = torch.Generator().manual_seed(seed)
    model = VQModelLayout(cfg, n_embed, embed_dim).eval()
    randomize_(model, gen)
    x = torch.rand(x_shape, generator=gen) * 2 - 1

    with torch.no_grad():
        h = model.encoder(x)
        z = model.quant_conv(h)
    # Codebook around the latents' scale (taming's init U(±1/n) would put every code near 0),
    # redrawn until no position has a near tie.
    for attempt in range(20):
        cb = (z.mean() + z.std() * torch.randn(n_embed, embed_dim, generator=gen)).half().float()
        idx, gap = quantize_reference(z, cb)
        if gap > 1e-3 and len(set(idx.tolist())) > 1:
            break
    else:
        raise SystemExit(f"{tag}: could not draw a codebook without near ties")
    with torch.no_grad():
        model.quantize.embedding.weight.copy_(cb)
        zq_ref, _, (_, _, idx_taming) = model.quantize(z)
    assert torch.equal(idx_taming, idx)

    # Decoder gradient through the straight-through estimator (frozen weights).
    zg = z.clone().requires_grad_(True)
    e = model.quantize.embedding(idx).view(z.shape[0], z.shape[2], z.shape[3], -1).permute(0, 3, 1, 2)
    zq_st = zg + (e - zg).detach()
    for p in model.parameters():
        p.requires_grad_(False)
    for name, p in model.named_parameters():
        if name in weight_grads:
            p.requires_grad_(True)
    dec = model.decoder(model.post_quant_conv(zq_st))
    r = torch.randn(dec.shape, generator=gen)
    (dec * r).sum().backward()

    # Encoder gradient with respect to the image.
    xg = x.clone().requires_grad_(True)
    h2 = model.encoder(xg)
    rh = torch.randn(h2.shape, generator=gen)
    (h2 * rh).sum().backward()

    io_tensors = {"x": x, "h": h, "z": z, "zq": zq_ref, "indices": idx.to(torch.int64),
                  "decoded": dec.detach(), "r": r, "grad_z": zg.grad, "r_h": rh, "grad_x": xg.grad}
    for name, p in model.named_parameters():
        if name in weight_grads:
            io_tensors["grad." + name] = p.grad
    sd = model.state_dict()
    write_safetensors(os.path.join(OUT, f"{tag}_weights.safetensors"), {k: v.half() for k, v in sd.items()},
                      {"config": json.dumps({"embed_dim": embed_dim, "n_embed": n_embed, "ddconfig": cfg})})
    write_safetensors(os.path.join(OUT, f"{tag}_io.safetensors"), io_tensors)
    print(f"{tag}: h {tuple(h.shape)} z {tuple(z.shape)} out {tuple(dec.shape)} min tie gap {gap:.2e} "
          f"distinct codes {len(set(idx.tolist()))}")
    return model, cfg


def make_discriminator_fixture(tag, n_layers, ndf, use_actnorm, x_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    disc = NLayerDiscriminator(input_nc=3, ndf=ndf, n_layers=n_layers, use_actnorm=use_actnorm)
    disc.apply(weights_init)
    with torch.no_grad():
        for name, t in disc.named_parameters():
            if name.endswith(".loc"):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
            elif name.endswith(".scale"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=gen))
            elif t.dim() == 1 and not use_actnorm:  # BatchNorm affine and conv biases
                t.copy_((1 if "weight" in name else 0) + 0.1 * torch.randn(t.shape, generator=gen))
            else:
                t.copy_(t.half().float())
        for name, b in disc.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)
            elif name.endswith("initialized"):
                b.fill_(1)
    x = torch.rand(x_shape, generator=gen) * 2 - 1
    sd = {k: v.clone() for k, v in disc.state_dict().items()}
    disc.eval()
    xg = x.clone().requires_grad_(True)
    out = disc(xg)
    r = torch.randn(out.shape, generator=gen)
    (out * r).sum().backward()
    io_tensors = {"x": x, "out_eval": out.detach(), "r": r, "grad_x": xg.grad}
    if not use_actnorm:
        disc.train()  # batch statistics; also updates running stats (recorded below)
        xt = x.clone().requires_grad_(True)
        out_t = disc(xt)
        (out_t * r).sum().backward()
        io_tensors["out_train"] = out_t.detach()
        io_tensors["grad_x_train"] = xt.grad
        for name, b in disc.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                io_tensors["after_train." + name] = b.clone()
    write_safetensors(os.path.join(OUT, f"disc_{tag}_weights.safetensors"),
                      {"loss.discriminator." + k: v for k, v in sd.items()},
                      {"n_layers": str(n_layers), "ndf": str(ndf), "use_actnorm": str(use_actnorm)})
    write_safetensors(os.path.join(OUT, f"disc_{tag}_io.safetensors"), io_tensors)
    print(f"disc_{tag}: out {tuple(out.shape)}")


def patch_lpips():
    """LPIPS downloads VGG16 and its lin weights at construction: build it with random weights."""
    import torchvision.models
    from taming.modules.losses import lpips
    real_vgg16 = torchvision.models.vgg16
    torchvision.models.vgg16 = lambda pretrained=False, **kw: real_vgg16(pretrained=False, **kw)
    lpips.models.vgg16 = torchvision.models.vgg16
    lpips.LPIPS.load_from_pretrained = lambda self, name="vgg_lpips": None


def lightning_checkpoint(state_dict):
    """A dict shaped like what PyTorch Lightning 1.x saves, including the ModelCheckpoint global."""
    mod = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        pass
    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = ModelCheckpoint
    for name in ["pytorch_lightning", "pytorch_lightning.callbacks"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[mod.__name__] = mod
    return {"epoch": 3, "global_step": 1234, "pytorch-lightning_version": "1.0.8",
            "callbacks": {ModelCheckpoint: {"monitor": "val/rec_loss", "best_model_score": torch.tensor(0.25),
                                            "best_model_path": "logs/ckpts/epoch=3.ckpt"}},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4.5e-6, "betas": (0.5, 0.9), "params": [0]}]}],
            "lr_schedulers": [], "state_dict": state_dict}


def make_checkpoint_fixture(tiny_model, cfg, n_embed, embed_dim):
    from taming.modules.losses.vqperceptual import VQLPIPSWithDiscriminator  # noqa: F401 (import check)
    disc_params = dict(disc_conditional=False, disc_in_channels=3, disc_start=0, disc_weight=0.75,
                       disc_num_layers=2, disc_ndf=8, codebook_weight=1.0)
    torch.manual_seed(5)
    disc = NLayerDiscriminator(input_nc=3, ndf=8, n_layers=2, use_actnorm=False).apply(weights_init)
    sd = {}
    for k, v in tiny_model.encoder.state_dict().items():
        sd["encoder." + k] = v
    for k, v in tiny_model.decoder.state_dict().items():
        sd["decoder." + k] = v
    # The LPIPS scaling buffers stand in for loss.perceptual_loss.* (the VGG weights are 58 MB).
    sd["loss.perceptual_loss.scaling_layer.shift"] = torch.tensor([-.030, -.088, -.188])[None, :, None, None]
    sd["loss.perceptual_loss.scaling_layer.scale"] = torch.tensor([.458, .448, .450])[None, :, None, None]
    for k, v in disc.state_dict().items():
        sd["loss.discriminator." + k] = v
    for k, v in tiny_model.state_dict().items():
        if not (k.startswith("encoder.") or k.startswith("decoder.")):
            sd[k] = v
    torch.save(lightning_checkpoint(sd), os.path.join(OUT, "tiny.ckpt"))
    yaml = f"""model:
  base_learning_rate: 4.5e-06
  target: taming.models.vqgan.VQModel
  params:
    embed_dim: {embed_dim}
    n_embed: {n_embed}
    monitor: val/rec_loss
    ddconfig:
      double_z: false
      z_channels: {cfg['z_channels']}
      resolution: {cfg['resolution']}
      in_channels: 3
      out_ch: 3
      ch: {cfg['ch']}
      ch_mult:
{''.join(f'      - {m}' + chr(10) for m in cfg['ch_mult'])}      num_res_blocks: {cfg['num_res_blocks']}
      attn_resolutions:
{''.join(f'      - {r}' + chr(10) for r in cfg['attn_resolutions'])}      dropout: 0.0
    lossconfig:
      target: taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator
      params:
{''.join(f'        {k}: {str(v).lower() if isinstance(v, bool) else v}' + chr(10) for k, v in disc_params.items())}"""
    with open(os.path.join(OUT, "tiny.yaml"), "w") as f:
        f.write(yaml)
    print(f"tiny.ckpt: {len(sd)} keys")


def write_keys(tag, model, head):
    keys = [{"name": k, "shape": list(v.shape), "dtype": DTYPES[v.dtype][0]} for k, v in model.state_dict().items()]
    with open(os.path.join(OUT, f"{tag}_keys.json"), "w") as f:
        f.write(json.dumps(head)[:-1] + ', "keys": [\n')
        f.write(",\n".join(json.dumps(k) for k in keys) + "\n]}\n")
    print(f"{tag}: {len(keys)} keys")


def make_f16_16384_keys():
    patch_lpips()
    from taming.modules.losses.vqperceptual import VQLPIPSWithDiscriminator
    cfg = ddconfig(128, [1, 1, 2, 2, 4], 2, [16], 256, 256)
    loss = VQLPIPSWithDiscriminator(disc_conditional=False, disc_in_channels=3, disc_start=0, disc_weight=0.75,
                                    disc_num_layers=2, codebook_weight=1.0)
    model = VQModelLayout(cfg, 16384, 256, loss=loss)
    write_keys("f16_16384", model, {"embed_dim": 256, "n_embed": 16384, "ddconfig": cfg, "disc_num_layers": 2})


def make_gumbel_f8_8192_keys():
    """GumbelVQ: VQModel's layout with GumbelQuantize (proj, embed) and no loss module."""
    from taming.modules.vqvae.quantize import GumbelQuantize
    cfg = ddconfig(128, [1, 1, 2, 4], 2, [32], 256, 256)
    model = VQModelLayout(cfg, 8192, 256)
    model.quantize = GumbelQuantize(256, 256, n_embed=8192, kl_weight=1e-8, temp_init=1.0)
    write_keys("gumbel_f8_8192", model, {"embed_dim": 256, "n_embed": 8192, "ddconfig": cfg})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    tiny_cfg = ddconfig(32, [1, 1], 1, [8], 4, 16)
    tiny, _ = make_model_fixture("tiny", tiny_cfg, 16, 4, (2, 3, 16, 16), seed=1,
                                 weight_grads=("decoder.conv_out.weight", "decoder.up.1.attn.0.k.weight",
                                               "decoder.mid.block_1.norm1.weight", "post_quant_conv.bias"))
    # Every feature of f16_16384: several resolutions, nin_shortcut (32 -> 64 channels), attention
    # at an inner level and at the lowest one, several blocks and attention layers per decoder level.
    # The image is not square so that a height/width mix-up shows.
    mid_cfg = ddconfig(32, [1, 1, 2, 2], 1, [4, 8], 16, 32)
    make_model_fixture("mid", mid_cfg, 128, 16, (1, 3, 32, 48), seed=2)
    make_discriminator_fixture("bn", n_layers=3, ndf=8, use_actnorm=False, x_shape=(2, 3, 32, 32), seed=3)
    make_discriminator_fixture("actnorm", n_layers=2, ndf=8, use_actnorm=True, x_shape=(1, 3, 24, 24), seed=4)
    make_checkpoint_fixture(tiny, tiny_cfg, 16, 4)
    make_f16_16384_keys()
    make_gumbel_f8_8192_keys()
    for name in sorted(os.listdir(OUT)):
        print(f"  {name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
