#!/usr/bin/env python3
"""Writes a full-size, SDXL-base-shaped diffusers folder with random weights (fp16 safetensors,
about 7 GB; NOT committed): the configs of configs/sdxl (make_sdxl_config.py), the real CLIP
vocabulary for both tokenizers (pad '!' for the second, as SDXL's), random weights drawn by
diffusers/transformers' own initialisers. For the full-size checks of issue 11: farm loads and
renders it at 1024², and diffusers renders the same item at a small size for comparison
(tools/reference/compare_full_size.py --sdxl).

Usage:  python tools/reference/make_sdxl_random.py DIR
"""
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_sdxl_config as cfg  # noqa: E402
import make_tiny_models as tiny  # noqa: E402


def main():
    out = sys.argv[1]
    spec = dict(seed=30, unet=cfg.UNET, text=cfg.TEXT, text_2=cfg.TEXT_2, vae=cfg.VAE, scheduler=cfg.SCHEDULER,
                pad_token="<|endoftext|>", pad_token_2="!",
                dtypes=dict(unet=torch.float16, text_encoder=torch.float16, text_encoder_2=torch.float16,
                            vae=torch.float16))
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tiny.build_sdxl_folder(spec, out, tiny.clip_vocab_dir(os.path.join(tiny.REPO, "tests", "data", "clip-vocab"), tmp))
    print(out)


if __name__ == "__main__":
    main()
