#!/usr/bin/env python3
"""Writes configs/sdxl and configs/sdxl-refiner: config-only diffusers folders for SDXL base 1.0
and refiner 1.0 (stabilityai/stable-diffusion-xl-base-1.0's and -refiner-1.0's published configs),
as diffusers and transformers save them, for `farm plan`, the cost model and the single-file
loader (a .safetensors file of either family takes these configs). Each model is built from its
config on the meta device (no weights) and its parameter count printed, to check against the
published counts (base UNet 2,567 M; the refiner, as configured by generative-models'
sd_xl_refiner.yaml: model_channels 384, channel_mult 1,2,4,4, attention at ds 2 and 4, depth 4,
64-wide heads, context 1280, adm 2560 -- its UNet has 2,260 M).

Usage:  python tools/reference/make_sdxl_config.py [--out configs]
"""
import argparse
import json
import os

import torch

UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, block_out_channels=[320, 640, 1280], layers_per_block=2,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    transformer_layers_per_block=[1, 2, 10], attention_head_dim=[5, 10, 20], cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_embed_type_num_heads=64,
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816, norm_num_groups=32, norm_eps=1e-5,
    act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, mid_block_scale_factor=1,
    center_input_sample=False)
TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
            projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1)
TEXT_2 = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
              projection_dim=1280, bos_token_id=0, eos_token_id=2, pad_token_id=1)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[128, 256, 512, 512],
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
           layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=1024, scaling_factor=0.13025,
           force_upcast=True)
# The refiner: 4 levels, attention in the middle two only, depth 4 everywhere, OpenCLIP bigG's
# state alone as the context (1280), 5 time ids (aesthetic score in place of the target size).
REFINER_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, block_out_channels=[384, 768, 1536, 1536], layers_per_block=2,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    transformer_layers_per_block=4, attention_head_dim=[6, 12, 24, 24], cross_attention_dim=1280,
    use_linear_projection=True, addition_embed_type="text_time", addition_embed_type_num_heads=64,
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2560, norm_num_groups=32, norm_eps=1e-5,
    act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, mid_block_scale_factor=1,
    center_input_sample=False)
SCHEDULER = dict(_class_name="EulerDiscreteScheduler", beta_start=0.00085, beta_end=0.012,
                 beta_schedule="scaled_linear", num_train_timesteps=1000, set_alpha_to_one=False,
                 skip_prk_steps=True, steps_offset=1, trained_betas=None, clip_sample=False,
                 interpolation_type="linear", use_karras_sigmas=False, sample_max_value=1.0,
                 prediction_type="epsilon", timestep_spacing="leading")


def write_scheduler(out):
    import diffusers
    sched = dict(SCHEDULER)
    getattr(diffusers, sched.pop("_class_name")).from_config(sched).save_config(os.path.join(out, "scheduler"))
    path = os.path.join(out, "scheduler", "scheduler_config.json")
    saved = json.load(open(path))
    saved.update(SCHEDULER)
    json.dump(dict(sorted(saved.items())), open(path, "w"), indent=2)


def copy_tokenizer(src, dst):
    import shutil
    os.makedirs(dst, exist_ok=True)
    for fn in os.listdir(src):
        s, d = os.path.join(src, fn), os.path.join(dst, fn)
        if os.path.lexists(d):
            os.remove(d)
        if os.path.islink(s):  # the vocabulary links to the shipped model's, as in sdxl/
            os.symlink(os.readlink(s), d)
        else:
            shutil.copyfile(s, d)


def write_refiner(root):
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection
    out = os.path.join(root, "sdxl-refiner")
    with torch.device("meta"):
        unet = UNet2DConditionModel(**REFINER_UNET)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_2))
        vae = AutoencoderKL(**VAE)
    unet.save_config(os.path.join(out, "unet"))
    vae.save_config(os.path.join(out, "vae"))
    te2.config.architectures = ["CLIPTextModelWithProjection"]
    te2.config.save_pretrained(os.path.join(out, "text_encoder_2"))
    write_scheduler(out)
    copy_tokenizer(os.path.join(root, "sdxl", "tokenizer_2"), os.path.join(out, "tokenizer_2"))
    index = {"_class_name": "StableDiffusionXLImg2ImgPipeline", "_diffusers_version": diffusers.__version__,
             "force_zeros_for_empty_prompt": False, "requires_aesthetics_score": True,
             "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": [None, None],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": [None, None],
             "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    json.dump(index, open(os.path.join(out, "model_index.json"), "w"), indent=2)
    count = lambda m: sum(p.numel() for p in m.parameters())
    print(json.dumps({"refiner unet": count(unet), "text_encoder_2": count(te2)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "configs"))
    root = os.path.abspath(ap.parse_args().out)
    out = os.path.join(root, "sdxl")
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNET)
        te1 = CLIPTextModel(CLIPTextConfig(**TEXT))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_2))
        vae = AutoencoderKL(**VAE)
    unet.save_config(os.path.join(out, "unet"))
    vae.save_config(os.path.join(out, "vae"))
    te1.config.architectures = ["CLIPTextModel"]
    te2.config.architectures = ["CLIPTextModelWithProjection"]
    te1.config.save_pretrained(os.path.join(out, "text_encoder"))
    te2.config.save_pretrained(os.path.join(out, "text_encoder_2"))
    write_scheduler(out)
    index = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": diffusers.__version__,
             "force_zeros_for_empty_prompt": True, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    json.dump(index, open(os.path.join(out, "model_index.json"), "w"), indent=2)
    count = lambda m: sum(p.numel() for p in m.parameters())
    dec = sum(p.numel() for n, p in vae.named_parameters() if n.startswith(("decoder.", "post_quant_conv.")))
    print(json.dumps({"unet": count(unet), "text_encoder": count(te1), "text_encoder_2": count(te2),
                      "vae": count(vae), "vae_decoder": dec}))
    write_refiner(root)


if __name__ == "__main__":
    main()
