#!/usr/bin/env python3
"""Writes a full-size, SD 1.5-shaped diffusers folder with random weights (fp16 safetensors).

Same configs as runwayml/stable-diffusion-v1-5 (UNet 320/640/1280/1280, CLIP ViT-L/14 text
encoder, VAE 128/256/512/512, PNDM scheduler config) and the real CLIP vocabulary, so farm's
loader, memory accounting, partitioner and benchmarks can run at true size without
downloading a checkpoint. Images it makes are noise. About 2 GB; NOT committed.

With --mid: the same topology at 2/5 of the width (UNet 128/256/512/512, text
encoder 512 wide × 6 layers, VAE 64/128/256/256; about 0.3 GB) — the "mid-size model"
of the throughput benchmark (benchmarks/throughput.sh).

Usage:  python tools/reference/make_sd15_random.py DIR [--mid] [--vocab tests/data/clip-vocab]
"""
import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny_models as tiny  # noqa: E402


def sd15_spec():
    # runwayml/stable-diffusion-v1-5 {unet,text_encoder,vae}/config.json
    return dict(
        seed=15,
        unet=dict(
            sample_size=64, in_channels=4, out_channels=4,
            block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                              "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                            "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8, use_linear_projection=False,
            norm_num_groups=32, norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
            downsample_padding=1, mid_block_scale_factor=1, center_input_sample=False),
        text=dict(
            vocab_size=tiny.VOCAB_SIZE, hidden_size=768, intermediate_size=3072,
            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
            hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
            bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4,
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=512,
            scaling_factor=0.18215),
        scheduler=tiny.sd1_spec()["scheduler"],
        pad_token="<|endoftext|>",
        dtypes=dict(unet=torch.float16, text_encoder=torch.float16, vae=torch.float16),
    )


def mid_spec():
    # SD 1.5's block structure, narrower: every shape stays legal (heads divide
    # channels, 32 groups divide every width).
    spec = sd15_spec()
    spec["seed"] = 16
    spec["unet"].update(block_out_channels=(128, 256, 512, 512), cross_attention_dim=512)
    spec["text"].update(hidden_size=512, intermediate_size=2048, num_hidden_layers=6,
                        num_attention_heads=8, projection_dim=512)
    spec["vae"].update(block_out_channels=(64, 128, 256, 256))
    return spec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--mid", action="store_true", help="the narrower mid-size model")
    ap.add_argument("--vocab", default=os.path.join(tiny.REPO, "tests", "data", "clip-vocab"))
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tiny.build_folder(mid_spec() if args.mid else sd15_spec(), args.out, tiny.clip_vocab_dir(args.vocab, tmp))
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    print(f"{args.out}: {total / 1e9:.2f} GB in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
