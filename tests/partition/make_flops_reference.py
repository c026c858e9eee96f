"""FLOP references for partition_tests, from PyTorch's own counter.

Builds diffusers/transformers models from config files on the meta device
(no weights), runs them under torch.utils.flop_counter.FlopCounterMode and
records the FLOPs (2·MACs of convolutions, linear layers and attention
matmuls, as FlopCounterMode counts them) of every UNet block, the text
encoder and the VAE decode. Run from the repository root:

    /work/venv/bin/python tests/partition/make_flops_reference.py

writes tests/partition/data/flops_reference.json.
"""
import json
import re

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

CASES = [  # model folder, latent h, latent w, rows
    ("tests/data/tiny-sd1", 16, 16, 2),
    ("tests/data/tiny-sd1", 9, 13, 2),
    ("tests/data/tiny-sd2", 10, 14, 1),
    ("configs/sd15", 64, 64, 2),
    ("configs/sd15", 60, 44, 2),
    ("configs/sd21", 96, 96, 2),
    ("tests/data/tiny-sdxl", 9, 13, 2),
    ("configs/sdxl", 128, 128, 2),
]
TEXT_LEN = 77
# The modules farm's block list names (farm/model/unet.cpp).
BLOCK = re.compile(r"(time_embedding|conv_in|conv_out|(down|up)_blocks\.\d+\.(resnets|attentions|downsamplers|upsamplers)"
                   r"\.\d+|mid_block\.(resnets|attentions)\.\d+)")


def counts(fn):
    with FlopCounterMode(display=False, depth=None) as fc:
        fn()
    return {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}


def unet_case(folder, h, w, rows):
    cfg = json.load(open(f"{folder}/unet/config.json"))
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(cfg)
        x = torch.randn(rows, cfg["in_channels"], h, w)
        t = torch.full((rows,), 500)
        ctx = torch.randn(rows, TEXT_LEN, cfg["cross_attention_dim"])
        added = None
        if cfg.get("addition_embed_type") == "text_time":  # SDXL: pooled text + 6 time ids
            pooled = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
            added = {"text_embeds": torch.randn(rows, pooled), "time_ids": torch.randn(rows, 6)}
    c = counts(lambda: unet(x, t, ctx, added_cond_kwargs=added))
    p = "UNet2DConditionModel."
    blocks = {k[len(p):]: v for k, v in c.items() if k.startswith(p) and BLOCK.fullmatch(k[len(p):])}
    # farm's time_embedding block runs SDXL's add_embedding too (the text_time conditioning).
    blocks["time_embedding"] += c.get(p + "add_embedding", 0)
    return {"total": c["Global"], "blocks": blocks}


def text_case(folder, rows):
    """SDXL (a text_encoder_2 folder): what its pipeline reads, the first encoder's penultimate
    layer (so a model one layer shorter) and all of the second with its pooled projection."""
    import os
    xl = os.path.isdir(f"{folder}/text_encoder_2")
    with torch.device("meta"):
        cfg = CLIPTextConfig.from_pretrained(f"{folder}/text_encoder")
        if xl:
            cfg.num_hidden_layers -= 1
        models = [CLIPTextModel(cfg)]
        if xl:
            models.append(CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(f"{folder}/text_encoder_2")))
        ids = torch.zeros(rows, TEXT_LEN, dtype=torch.long)
    return sum(counts(lambda: m(ids))["Global"] for m in models)


def vae_case(folder, h, w, items):
    cfg = json.load(open(f"{folder}/vae/config.json"))
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(cfg)
        z = torch.randn(items, cfg["latent_channels"], h, w)
    return counts(lambda: vae.decode(z))["Global"]


def main():
    out = []
    for folder, h, w, rows in CASES:
        out.append({"model": folder, "latent_h": h, "latent_w": w, "rows": rows, "text_len": TEXT_LEN,
                    "unet": unet_case(folder, h, w, rows), "text_encoder": text_case(folder, rows),
                    "vae_decode_one_image": vae_case(folder, h, w, 1)})
        print(folder, h, w, rows, out[-1]["unet"]["total"] / 1e9, "GFLOP")
    with open("tests/partition/data/flops_reference.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
