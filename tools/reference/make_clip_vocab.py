#!/usr/bin/env python3
"""Writes the CLIP BPE vocabulary as Hugging Face ships it for
openai/clip-vit-large-patch14 (and the SD 1.x/2.x `tokenizer/` folders):
vocab.json and merges.txt, built from OpenAI's own merge list that
open_clip_torch bundles as bpe_simple_vocab_16e6.txt.gz.

The construction is OpenAI's `SimpleTokenizer.__init__` (CLIP repo,
clip/simple_tokenizer.py): 256 byte characters, the same with '</w>', one
entry per merge (the pair joined), then <|startoftext|> and <|endoftext|>.
Only the first 49152-256-2 = 48894 merges are used; the file holds more.

Usage: /work/venv/bin/python tools/reference/make_clip_vocab.py [out_dir]
       (default out_dir: tests/data/clip-vocab)
"""
import gzip
import hashlib
import json
import os
import sys

import open_clip

N_MERGES = 49152 - 256 - 2  # OpenAI's cut, kept by every HF CLIP tokenizer


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable-char map (same in CLIP)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "data", "clip-vocab")
    gz = os.path.join(os.path.dirname(open_clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(gz).read().decode("utf-8").split("\n")
    # lines[0] is '"bpe_simple_vocab_16e6.txt#version: 0.2', a header.
    merges = lines[1:1 + N_MERGES]
    assert len(merges) == N_MERGES and all(len(m.split()) == 2 for m in merges)

    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens) == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407

    os.makedirs(out_dir, exist_ok=True)
    # HF's file is one line with compact separators and raw UTF-8 (862,328 bytes).
    vocab_text = json.dumps(vocab, ensure_ascii=False, separators=(",", ":"))
    merges_text = "#version: 0.2\n" + "\n".join(merges) + "\n"
    for name, text in (("vocab.json", vocab_text), ("merges.txt", merges_text)):
        data = text.encode("utf-8")
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
