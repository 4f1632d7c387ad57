#!/usr/bin/python3
"""Writes the Hugging Face CLIP fixture for Tests/CLIPTests/Fixtures (run by hand, never by CI).

The Swift loader renames Hugging Face tensors to OpenAI's; testing it only against our own
OpenAI -> Hugging Face conversion would pass a rename that is wrong both ways. This fixture is
made by `transformers` itself: a small random CLIPModel saved with save_pretrained, a small
byte-level BPE vocabulary saved by its CLIPTokenizer, and the features transformers computes.

    pip install --target /tmp/hfdeps "transformers==4.40.2" safetensors
    rm -rf /tmp/hfdeps/numpy*          # keep Debian's numpy, the one python3-torch is built against
    PYTHONPATH=/tmp/hfdeps /usr/bin/python3 scripts/make_hf_clip_fixture.py Tests/CLIPTests/Fixtures

Writes:
  hf-clip-small/                 save_pretrained of CLIPModel (model.safetensors in float16,
                                 config.json) and CLIPTokenizer (vocab.json, merges.txt, ...).
  hf-clip-small-reference.safetensors
                                 images [2, 3, 32, 32], image_features, text_features,
                                 logits_per_image (float32, from the float16-rounded weights),
                                 and per prompt its token ids (`tokens.N`); the prompts are in
                                 the metadata as a JSON list.
"""

import json
import os
import sys
import tempfile

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.tokenization_clip import bytes_to_unicode

PROMPTS = ["a photo of a red cat", "a diagram of a blue square", "two cats on a mat!", "a star"]
CORPUS = PROMPTS + ["a photo of a dog", "a red square and a blue circle", "cats and dogs", "the stars"]
MERGES = 40


def learn_bpe(corpus, count):
    """Byte-level BPE merges over the corpus' words (CLIP's scheme: last symbol ends in </w>)."""
    byte_symbol = bytes_to_unicode()
    words = {}
    for text in corpus:
        for word in text.lower().replace("!", " !").split():
            symbols = [byte_symbol[b] for b in word.encode("utf-8")]
            symbols[-1] += "</w>"
            words[tuple(symbols)] = words.get(tuple(symbols), 0) + 1
    merges = []
    for _ in range(count):
        pairs = {}
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] = pairs.get(pair, 0) + n
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = {}
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = n
        words = merged
    return merges


def write_tokenizer_source(folder):
    """vocab.json and merges.txt in CLIP's layout: bytes, bytes</w>, merges, then the specials."""
    symbols = list(bytes_to_unicode().values())
    merges = learn_bpe(CORPUS, MERGES)
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return len(vocab)


def main(out_dir):
    torch.manual_seed(0)
    folder = os.path.join(out_dir, "hf-clip-small")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as source:
        vocab_size = write_tokenizer_source(source)
        tokenizer = CLIPTokenizer(os.path.join(source, "vocab.json"), os.path.join(source, "merges.txt"))
    tokenizer.save_pretrained(folder)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer.convert_tokens_to_ids("<|startoftext|>")

    # Heads of 64 channels, as OpenAI's CLIP (the Swift port assumes them).
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=512, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos,
                         pad_token_id=eos),
        vision_config=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=32)
    model = CLIPModel(config).eval()
    # Random init leaves LayerNorms at 1/0 and biases small; perturb every tensor so that a
    # swapped or untransposed tensor shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(2.0)
            else:
                p.add_(torch.randn_like(p) * 0.05)
        for p in model.parameters():
            p.copy_(p.half().float())
    model.half().save_pretrained(folder, safe_serialization=True)
    model.float()

    images = torch.randn(2, 3, 32, 32)
    rows = [tokenizer(p)["input_ids"] for p in PROMPTS]
    batch = tokenizer(PROMPTS, padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():
        image_features = model.get_image_features(pixel_values=images)
        text_features = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pixel_values=images).logits_per_image
    tensors = {"images": images, "image_features": image_features, "text_features": text_features,
               "logits_per_image": logits}
    for i, r in enumerate(rows):
        tensors[f"tokens.{i}"] = torch.tensor(r, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "hf-clip-small-reference.safetensors"),
              metadata={"prompts": json.dumps(PROMPTS), "transformers": __import__("transformers").__version__})
    print("vocab", vocab_size, "tokens", rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/CLIPTests/Fixtures")
