#!/usr/bin/python3
"""Writes the small checkpoint fixtures of Tests/CheckpointsTests/Fixtures.

Run by hand (never by CI) with Debian's python3-torch 1.13:

    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_checkpoint_fixtures.py

Pure-Python deps, installed with `pip install --no-deps --target /tmp/pydeps ...`:
taming-transformers-rom1504, clip-anytorch, safetensors, einops, ftfy, regex, pyyaml.

Outputs (all tiny, random weights, fixed seed):
  vqgan_tiny.ckpt            Lightning-style torch.save zip ("archive/" prefix, as Lightning's
                             BytesIO save gives), storages tagged cuda:0, ModelCheckpoint class
                             used as a dict key, Adam optimizer state, a pickled user scheduler
  vqgan_tiny_legacy.ckpt     the same object, legacy (non-zip) torch.save stream
  vqgan_tiny.yaml            taming-style model.yaml for the tiny model
  vqgan_tiny_expected.safetensors   its state_dict (contiguous copies, original dtypes)
  clip_tiny.pt               TorchScript archive of a tiny OpenAI-CLIP (traced in f32, the
                             convert_weights set cast to fp16 afterwards, 3 int64 scalar buffers)
  clip_tiny_expected.safetensors    traced.state_dict() (original dtypes)
  views.pt / views_legacy.pt / views_p4.pt   non-contiguous views, offsets, shared storage,
                             f16/bf16/int64, scalar, empty, zero-stride; zip (file-stem prefix),
                             legacy, and zip with pickle protocol 4
  views_expected.safetensors contiguous copies (f16/bf16 widened to f32)
  extras_p1.pt               pickle protocol 1, a tensor with attributes, nested dicts, numpy scalar
  module.pt                  torch.save of a whole nn.Module (no state_dict call)
  dtypes.safetensors / dtypes_expected.safetensors   F32, F16, BF16, I64 and their f32/i64 values
  evil_in_dict.pt            a state_dict next to an object whose __reduce__ is os.system
  evil_root.pt               a file whose root object is os.system(...)
"""
import collections
import io
import os
import sys
import types

import torch
import torch.nn as nn
import yaml
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CheckpointsTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)


def out(name):
    return os.path.join(OUT, name)


def expected(sd, name):
    """Saves contiguous clones (safetensors refuses shared or strided tensors)."""
    save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, out(name))


# ---------------------------------------------------------------------------------------------
# Tiny VQGAN in taming's exact module layout (GroupNorm with 4 groups so channels can be tiny).
import taming.modules.diffusionmodules.model as tm  # noqa: E402
from taming.modules.discriminator.model import NLayerDiscriminator  # noqa: E402
from taming.modules.vqvae.quantize import VectorQuantizer2  # noqa: E402

tm.Normalize = lambda in_channels: nn.GroupNorm(num_groups=4, num_channels=in_channels, eps=1e-6, affine=True)

DDCONFIG = dict(double_z=False, z_channels=4, resolution=16, in_channels=3, out_ch=3, ch=4,
                ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], dropout=0.0)
EMBED_DIM, N_EMBED = 4, 16


class Loss(nn.Module):
    def __init__(self):
        super().__init__()
        self.discriminator = NLayerDiscriminator(input_nc=3, ndf=8, n_layers=1)


class VQModel(nn.Module):
    """Attribute order of taming.models.vqgan.VQModel (state_dict order follows it)."""

    def __init__(self):
        super().__init__()
        self.encoder = tm.Encoder(**DDCONFIG)
        self.decoder = tm.Decoder(**DDCONFIG)
        self.loss = Loss()
        self.quantize = VectorQuantizer2(N_EMBED, EMBED_DIM, beta=0.25)
        self.quant_conv = nn.Conv2d(DDCONFIG["z_channels"], EMBED_DIM, 1)
        self.post_quant_conv = nn.Conv2d(EMBED_DIM, DDCONFIG["z_channels"], 1)


vq = VQModel()
next(m for m in vq.modules() if isinstance(m, nn.BatchNorm2d)).num_batches_tracked.fill_(17)  # a non-trivial int64 buffer
sd = vq.state_dict()

# Adam state for a few parameters (a real checkpoint has it for all of them; kept small here).
params = list(vq.parameters())[:4]
opt = torch.optim.Adam(params, lr=4.5e-6, betas=(0.5, 0.9))
for p in params:
    p.grad = torch.randn_like(p)
opt.step()

# The stand-in for the class Lightning 1.0.x uses as a callbacks key.
for name in ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"]:
    sys.modules.setdefault(name, types.ModuleType(name))
ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": "pytorch_lightning.callbacks.model_checkpoint"})
sys.modules["pytorch_lightning.callbacks.model_checkpoint"].ModelCheckpoint = ModelCheckpoint

from taming.lr_scheduler import LambdaWarmUpCosineScheduler  # noqa: E402

ckpt = {
    "epoch": 7,
    "global_step": 1234,
    "pytorch-lightning_version": "1.0.8",
    "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.25), "best_model_path": "/logs/last.ckpt"}},
    "optimizer_states": [opt.state_dict()],
    "lr_schedulers": [{"scheduler": LambdaWarmUpCosineScheduler(0, 1e-6, 0.9, 0.9, 1000001)}],
    "state_dict": sd,
    "hparams_name": "kwargs",
    "hyper_parameters": {"embed_dim": EMBED_DIM, "n_embed": N_EMBED, "ddconfig": dict(DDCONFIG)},
}

# Real checkpoints were trained on GPUs: their storages say "cuda:0".
real_location_tag = torch.serialization.location_tag
torch.serialization.location_tag = lambda storage: "cuda:0"
buffer = io.BytesIO()  # Lightning saves through a BytesIO: the archive's top directory is "archive"
torch.save(ckpt, buffer)
with open(out("vqgan_tiny.ckpt"), "wb") as f:
    f.write(buffer.getvalue())
torch.save(ckpt, out("vqgan_tiny_legacy.ckpt"), _use_new_zipfile_serialization=False)
torch.serialization.location_tag = real_location_tag
expected(sd, "vqgan_tiny_expected.safetensors")

config = {
    "model": {
        "base_learning_rate": 4.5e-06,
        "target": "taming.models.vqgan.VQModel",
        "params": {
            "embed_dim": EMBED_DIM,
            "n_embed": N_EMBED,
            "monitor": "val/rec_loss",
            "ddconfig": DDCONFIG,
            "lossconfig": {
                "target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator",
                "params": {"disc_conditional": False, "disc_in_channels": 3, "disc_start": 0,
                           "disc_weight": 0.75, "disc_num_layers": 1, "codebook_weight": 1.0},
            },
        },
    },
}
with open(out("vqgan_tiny.yaml"), "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)

# ---------------------------------------------------------------------------------------------
# Tiny OpenAI CLIP as a TorchScript archive.
import clip.model as cm  # noqa: E402

clip_model = cm.CLIP(embed_dim=8, image_resolution=8, vision_layers=1, vision_width=64, vision_patch_size=4,
                     context_length=6, vocab_size=40, transformer_width=16, transformer_heads=2, transformer_layers=1)
clip_model.eval()
image = torch.randn(1, 3, 8, 8)
text = torch.tensor([[39, 5, 7, 38, 0, 0]])
# As OpenAI publishes it (root scalar buffers, the fp16/fp32 mix): the CLIP fixture script's writer.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_clip_fixtures import save_torchscript  # noqa: E402

save_torchscript(clip_model, {"image_resolution": 8, "context_length": 6, "vocab_size": 40}, image, text,
                 out("clip_tiny.pt"))
expected(torch.jit.load(out("clip_tiny.pt")).state_dict(), "clip_tiny_expected.safetensors")

# ---------------------------------------------------------------------------------------------
# Views, offsets, shared storages and dtypes in a plain state dict.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
half_base = torch.randn(3, 5).half()
views = collections.OrderedDict(
    transposed=base.t(),                   # strides (1, 6)
    rows=base[1:3],                        # storage offset 6
    column=base[:, 2],                     # stride 6, offset 2
    every_other=base[:, ::2],              # strides (6, 2)
    shared=base,                           # same storage as the views above
    half_cols=half_base[:, 1:4],           # fp16, offset 1, strides (5, 1)
    bf16=torch.randn(7).bfloat16(),
    int64=torch.tensor([-3, 0, 2 ** 40]),
    scalar=torch.tensor(2.5),
    empty=torch.zeros(0, 3),
    expanded=torch.tensor([1.0, 2.0, 3.0]).expand(4, 3),   # stride 0
    parameter=nn.Parameter(torch.tensor([[0.5, -0.25]])),
)
torch.save(views, out("views.pt"))
torch.save(views, out("views_legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(views, out("views_p4.pt"), pickle_protocol=4)
expected({k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in views.items()},
         "views_expected.safetensors")

# Protocol 1 (text-era opcodes: no PROTO/NEWOBJ, INT booleans), a tensor carrying Python
# attributes (pickled through _rebuild_from_type_v2), nested dicts, numpy scalars (_codecs bytes).
import numpy as np  # noqa: E402

tagged = torch.tensor([1.5, -2.0])
tagged.note = "has a __dict__"
extras = {
    "tagged": tagged,
    "block": {"w": torch.tensor([[1.0, 2.0]]), "inner": {"b": torch.tensor([3], dtype=torch.int32)}},
    "flag": True, "big": 2 ** 70, "negative": -(2 ** 40), "ratio": 0.125, "nothing": None, "text": "ünï",
    "numpy": np.float64(1.5),
}
torch.save(extras, out("extras_p1.pt"), pickle_protocol=1)

module = nn.Sequential(collections.OrderedDict(lin=nn.Linear(3, 2), norm=nn.BatchNorm1d(2)))
module.lin.register_buffer("scratch", torch.zeros(2), persistent=False)  # not in state_dict()
torch.save(module, out("module.pt"))

# ---------------------------------------------------------------------------------------------
# safetensors in several dtypes.
f32 = torch.randn(2, 3)
f16 = torch.randn(4).half()
bf16 = torch.randn(3, 2).bfloat16()
i64 = torch.tensor([[1, -2], [3, 2 ** 50]])
save_file({"f32": f32, "f16": f16, "bf16": bf16, "i64": i64}, out("dtypes.safetensors"), metadata={"format": "pt"})
save_file({"f32": f32, "f16": f16.float(), "bf16": bf16.float(), "i64": i64}, out("dtypes_expected.safetensors"))


# ---------------------------------------------------------------------------------------------
# Hostile pickles: must load as inert placeholders, never execute.
class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/vqclip-fixture-was-executed",))


torch.save({"state_dict": collections.OrderedDict(w=torch.ones(2)), "payload": Evil()}, out("evil_in_dict.pt"))
torch.save(Evil(), out("evil_root.pt"))

total = sum(os.path.getsize(out(n)) for n in os.listdir(OUT) if not n.startswith("."))
print(f"wrote fixtures to {os.path.normpath(OUT)}: {total} bytes")
