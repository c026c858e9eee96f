#!/usr/bin/env python3
"""A CLIP tokenizer folder as transformers 5 saves it: tokenizer.json and
tokenizer_config.json, no vocab.json / merges.txt (tests/text/
tokenizer_json_test.cpp reads it).

Loads tests/data/tiny-sd1/tokenizer (runwayml/stable-diffusion-v1-5's
vocabulary and merges) with transformers 5's CLIPTokenizer and
save_pretrained()s it into tests/data/tokenizer/hf5-sd1/. tokenizer.json is
then written again without indentation (json.dumps, same content; 1.7 MB
instead of 3.6 MB). Made with transformers 5.24.0, tokenizers 0.22:
  /work/venv/bin/python tools/reference/make_tokenizer_json.py
"""
import json
import os
import shutil
import tempfile

import transformers
from transformers import CLIPTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SRC = os.path.join(ROOT, "tests", "data", "tiny-sd1", "tokenizer")
OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "hf5-sd1")


def main():
    assert transformers.__version__.startswith("5."), "needs transformers 5 (it saves tokenizer.json only)"
    tok = CLIPTokenizer.from_pretrained(SRC)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        names = sorted(os.listdir(tmp))
        assert "vocab.json" not in names and "tokenizer.json" in names, names
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            data = json.load(f)
        with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        shutil.copy(os.path.join(tmp, "tokenizer_config.json"), OUT)
    print(f"{OUT}: {sorted(os.listdir(OUT))} (transformers {transformers.__version__})")


if __name__ == "__main__":
    main()
