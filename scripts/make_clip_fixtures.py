#!/usr/bin/python3
"""Writes the CLIP parity fixtures for Tests/CLIPTests/Fixtures (run by hand, never by CI).

Reference: OpenAI's CLIP as packaged in clip-anytorch (clip/model.py, clip/simple_tokenizer.py)
with ftfy, run on Debian's python3-torch:

    pip install --no-deps --target /tmp/pydeps clip-anytorch ftfy wcwidth tqdm safetensors
    pip install --target /tmp/pydeps regex
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_clip_fixtures.py tokens
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_clip_fixtures.py entities
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_clip_fixtures.py preprocess
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_clip_fixtures.py small
    PYTHONPATH=/tmp/pydeps /usr/bin/python3 scripts/make_clip_fixtures.py b32 /tmp/clip-b32-fixture

Subcommands:
  tokens    tokenizer.json: token ids of a few hundred varied strings.
  entities  Sources/CLIP/Resources/html5-entities.txt: the HTML5 named character references
            (the table of the HTML standard, as Python's html.entities.html5 carries it).
  preprocess clip-preprocess.safetensors: images through clip's _transform (PIL resize, crop).
  small     a small random-weight CLIP: weights (float16 safetensors, OpenAI names; and the same
            model as a TorchScript archive like OpenAI's .pt files), images,
            tokens, image/text features and d(cosine similarity)/d(image), in f32 from the
            fp16-rounded weights.
  b32       the same at ViT-B/32 shapes into a directory outside the repository (too large).
"""

import json
import os
import random
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIXTURES = os.path.join(ROOT, "Tests", "CLIPTests", "Fixtures")


# --------------------------------------------------------------------------------------------
# Tokenizer


def curated_strings():
    return [
        "a photo of a cat",
        "A painting of an apple in a fruit bowl | trending on artstation",
        "Hello,  WORLD!!  it's 2024",
        "naïve café ﬁne “quoted” ＬＯＵＤ",
        "<|endoftext|> x",
        "<|startoftext|>hello<|endoftext|>",
        "x<|endoftext|>y !<|endoftext|>",
        "&amp; &lt;3 100%",
        "&amp;amp; &amp;lt;b&amp;gt; double escaped",
        "&ampx &notit; &notin; &copy2021 &#65;&#x42;&#X43 &#0; &#128; &#150; &#xD800; &#1114112;",
        "&EACUTE;T&EACUTE; P&EACUTE;REZ &NTILDE; &nTILDE; BUNDESSTRA&SZLIG;E",
        "&checkmark; &Jscr;ohn &HilbertSpace;ancock &hellip; &nbsp;space",
        "a < b &amp; c",
        "first line &amp; ok\nsecond < line &amp; kept",
        "line with < first\nthen &eacute; later",
        "it's they're we've I'm you'll he'd ISN'T WE'LL",
        "quote's 's 't 're 've 'm 'll 'd '' ''s",
        "3.14159 1,000,000 2nd 1st 0x1F 42% #1 $9.99 €5 ¥300 ½ ² ³ Ⅻ ① ٣ ५",
        "emoji 😀😃🎨 🖼️ 👩‍🎨 🇫🇷 ❤️ ✨ 🌈🌊",
        "中文 测试 日本語のテキスト 한국어 텍스트",
        "Ελληνικά ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ. Σ1 ΌΣΟΣ",
        "İstanbul ISTANBUL ı I Ǆ ǅ ǆ ß ẞ ﬀ ﬃ ﬆ Ĳ",
        "Ａｂｃ　ｄｅｆ！１２３ ｶﾀｶﾅ ﾊﾝｶｸ",
        "e\u0301 cafe\u0301 A\u030a n\u0303",
        "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "tab\tnewline\nreturn\rformfeed\fvtab\vend",
        "  leading and trailing spaces   ",
        "nbsp\u00a0thin\u2009ideographic\u3000em\u2003line\u2028para\u2029next\u0085end",
        "zero\u200bwidth\u200cjoiner\u200dlrm\u200e bom\ufeff word",
        "control\x01\x02\x07\x1b chars\x7f and \x1c\x1d\x1e\x1f sep",
        "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[m",
        "C1 \x80 \x85 \x91quoted\x92 \x93dq\x94 \x96 \x9d",
        "curly ‘single’ “double” „low“ ‹angle› «guillemets» ʼmodifier",
        "https://example.com/path?query=1&amp;b=2#frag",
        "user@example.com #hashtag @mention",
        "C++ C# F# .NET node.js",
        "-- --- ... ?!? (parens) [brackets] {braces} <angles>",
        "trending on artstation, unreal engine, 4k, 8k, hdr",
        "oil painting by Greg Rutkowski and Alphonse Mucha",
        "mañana Ñandú façade Ærøskøbing Straße Łódź Dvořák",
        "Привет мир! Съешь же ещё этих мягких французских булок",
        "مرحبا بالعالم שלום עולם",
        "हिन्दी भाषा தமிழ் ภาษาไทย",
        "math ∑∫∂√∞ ≠ ≤ ≥ ± × ÷ → ← ↔",
        "",
        "   ",
        "a",
        "!",
        "'",
        "0",
        "A.B.C.",
        "x" * 20 + " " + "y" * 40,
        "'ſ x <|ſtartoftext|> aͅb abͅ ͅ",
        "ΣΑΣ Σ ΑΣ' ΣΑ.Σ́",
        "İI K Å Ω",
        "&Kopf; &Kopf; &#x1F600; &#128512 &#X1f3a8;",
        "&lt&gt&amp&quot &LT; &GT &AMP; &aacute &Aacute &AACUTE;",
    ]


def generated_strings(count, seed=1234):
    rng = random.Random(seed)
    words = ["photo", "painting", "cat", "dog", "city", "night", "sunset", "forest", "robot",
             "castle", "ocean", "portrait", "abstract", "neon", "watercolor", "Cyberpunk",
             "MOUNTAIN", "Lake", "dragon", "astronaut", "steampunk", "cathedral", "octopus",
             "café", "naïve", "résumé", "Zürich", "São", "Kraków", "東京", "北京", "서울",
             "Москва", "Αθήνα", "😀", "🎨", "🌌", "👾", "🐉", "2077", "1984", "3D", "4K",
             "hyperrealistic", "photorealistic", "octane", "vaporwave", "bokeh"]
    punct = [",", ".", "!", "?", ";", ":", "-", "--", "...", "'", "\"", "(", ")", "|", "/",
             "&", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&eacute;", "&nbsp;", "’", "“",
             "”", "—", "–", "…", "%", "$", "#", "@", "*", "+", "=", "~", "^", "_", "<", ">"]
    spaces = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", ""]
    contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL"]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.55:
                w = rng.choice(words)
                if rng.random() < 0.2:
                    w = w.upper()
                if rng.random() < 0.15:
                    w += rng.choice(contractions)
                parts.append(w)
            elif r < 0.8:
                parts.append(rng.choice(punct))
            elif r < 0.9:
                parts.append(str(rng.randint(0, 100000)))
            else:
                # A random code point from assorted blocks (letters, marks, symbols, CJK, emoji).
                lo, hi = rng.choice([(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff),
                                     (0x300, 0x36f), (0x2000, 0x206f), (0x3040, 0x30ff),
                                     (0x4e00, 0x4fff), (0xac00, 0xacff), (0x1f300, 0x1f64f),
                                     (0xff00, 0xffef)])
                parts.append(chr(rng.randint(lo, hi)))
            parts.append(rng.choice(spaces))
        out.append("".join(parts))
    return out


def make_tokens():
    import ftfy
    from clip.simple_tokenizer import SimpleTokenizer
    tok = SimpleTokenizer()
    cases = []
    skipped = 0
    for text in curated_strings() + generated_strings(300):
        # ftfy's mojibake repair (fix_encoding) is heuristic and is not replicated in Swift: keep
        # only strings on which it does nothing.
        if ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False):
            skipped += 1
            continue
        cases.append({"text": text, "ids": tok.encode(text)})
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"cases": cases}, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(cases)} strings ({skipped} skipped: mojibake repair)")


def make_entities():
    import html.entities
    path = os.path.join(ROOT, "Sources", "CLIP", "Resources", "html5-entities.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write("# HTML5 named character references: name (with its ';' when the standard lists one)\n")
        f.write("# and the code points it stands for, in hex. Generated by scripts/make_clip_fixtures.py.\n")
        for name, value in sorted(html.entities.html5.items()):
            f.write(name + "\t" + " ".join("%X" % ord(c) for c in value) + "\n")
    print(f"{path}: {len(html.entities.html5)} names")


# --------------------------------------------------------------------------------------------
# Model

SMALL = dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128, vision_patch_size=8,
             context_length=77, vocab_size=320, transformer_width=128, transformer_heads=2,
             transformer_layers=1)
B32 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
           context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
           transformer_layers=12)


def build_reference(cfg, seed):
    """clip.model.CLIP with its own initialisation, plus noise on every vector parameter (so that
    biases and LayerNorm affines are not all zeros and ones), rounded to float16 and back."""
    import torch
    from clip.model import CLIP
    torch.manual_seed(seed)
    model = CLIP(**cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim <= 1 and name != "logit_scale":
                p.add_(0.1 * torch.randn_like(p))
            p.copy_(p.half().float())
    return model


def save_torchscript(model, cfg, image, text, path):
    """The model as OpenAI publishes it: a TorchScript archive with the root's three scalar
    buffers and the fp16/fp32 mix of clip.model.convert_weights (traced in f32: tracing fp16 on
    the CPU is not possible, so the same parameters are cast afterwards)."""
    import torch
    for name, value in (("input_resolution", cfg["image_resolution"]), ("context_length", cfg["context_length"]),
                        ("vocab_size", cfg["vocab_size"])):
        if hasattr(model, name):
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    traced = torch.jit.trace_module(model, {"forward": (image, text), "encode_image": (image,), "encode_text": (text,)})

    def half_in_release(name):
        leaf = name.split(".")[-1]
        if leaf in ("in_proj_weight", "in_proj_bias", "text_projection", "proj"):
            return True
        return any(part in name for part in ("conv1.", "out_proj.", "c_fc.", "c_proj."))

    with torch.no_grad():
        for name, p in traced.named_parameters():
            if half_in_release(name):
                p.data = p.data.half()
    traced.save(path)


def make_model(small, outdir):
    import torch
    from safetensors.torch import save_file
    cfg = SMALL if small else B32
    torch.manual_seed(0)
    model = build_reference(cfg, seed=1)
    res, ctx, vocab = cfg["image_resolution"], cfg["context_length"], cfg["vocab_size"]
    n_images, n_texts = 3, 2

    # Images in CLIP's normalised range, as encode_image receives them.
    images = torch.randn(n_images, 3, res, res) * 0.8
    if small:
        # Synthetic ids: the end token must be the largest id (the text tower takes its argmax).
        lengths = [7, 12]
        tokens = torch.zeros(n_texts, ctx, dtype=torch.long)
        for i, n in enumerate(lengths):
            tokens[i, 0] = vocab - 2
            tokens[i, 1:n - 1] = torch.randint(1, vocab - 2, (n - 2,))
            tokens[i, n - 1] = vocab - 1
    else:
        import clip
        tokens = clip.tokenize(["a photo of a cat", "an oil painting of a lighthouse at dusk"])

    x = images.clone().requires_grad_(True)
    image_features = model.encode_image(x)
    with torch.no_grad():
        text_features = model.encode_text(tokens)
    weights = torch.randn(n_images, n_texts)
    cos = (image_features / image_features.norm(dim=-1, keepdim=True)) @ \
          (text_features / text_features.norm(dim=-1, keepdim=True)).t()
    loss = (cos * weights).sum()
    loss.backward()

    os.makedirs(outdir, exist_ok=True)
    sd = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    meta = {k: str(v) for k, v in cfg.items()}
    save_file(sd, os.path.join(outdir, "clip-small-openai.safetensors" if small else "clip-b32-openai.safetensors"),
              metadata=meta)
    ref = {
        "images": images,
        "tokens": tokens.float(),
        "image_features": image_features.detach(),
        "text_features": text_features,
        "cosine_weights": weights,
        "cosine": cos.detach(),
        "grad_images": x.grad,
    }
    save_file({k: v.contiguous() for k, v in ref.items()},
              os.path.join(outdir, "clip-small-reference.safetensors" if small else "clip-b32-reference.safetensors"),
              metadata={"loss": "sum(cosine * cosine_weights)"})
    if small:
        save_torchscript(model, cfg, images[:1], tokens[:1], os.path.join(outdir, "clip-small.pt"))
    for f in sorted(os.listdir(outdir)):
        print(os.path.join(outdir, f), os.path.getsize(os.path.join(outdir, f)))


# --------------------------------------------------------------------------------------------
# Preprocessing (clip.clip._transform: PIL bicubic resize of the short side, centre crop, normalise)


def make_preprocess():
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from clip.clip import _transform
    rng = np.random.default_rng(7)
    out = {}
    # (width, height, size): downscale (antialiased), upscale, crop only, portrait downscale.
    for i, (w, h, size) in enumerate([(61, 47, 24), (13, 17, 24), (40, 24, 24), (30, 90, 16)]):
        # Smooth gradients plus noise, so that both the filter taps and the rounding matter.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 64 * 4], axis=-1)
        pixels = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        result = _transform(size)(Image.fromarray(pixels, "RGB"))
        out[f"input{i}"] = torch.from_numpy(pixels.astype(np.float32))
        out[f"output{i}"] = result.unsqueeze(0).contiguous()
    path = os.path.join(FIXTURES, "clip-preprocess.safetensors")
    save_file(out, path)
    print(path, os.path.getsize(path))


# --------------------------------------------------------------------------------------------


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd = sys.argv[1]
    if cmd == "tokens":
        make_tokens()
    elif cmd == "entities":
        make_entities()
    elif cmd == "preprocess":
        make_preprocess()
    elif cmd == "small":
        make_model(small=True, outdir=FIXTURES)
    elif cmd == "b32":
        make_model(small=False, outdir=sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
