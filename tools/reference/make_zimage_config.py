#!/usr/bin/env python3
"""configs/z-image-turbo: Z-Image-Turbo's configs as diffusers/transformers save them
(config-only: no weights, no tokenizer vocabulary), and
tests/data/zimage_params.json: the parameter count of every block of its
transformer and text encoder, and of its VAE decoder, counted by diffusers and
transformers on the meta device (no memory) - what farm's analytic counts are
checked against, for the real config and the tiny one.

Hyperparameters (Tongyi-MAI/Z-Image-Turbo; not fetchable here, so from public
copies quoted in ../shared/notes/z-image.md, marked third-party there): DiT dim
3840, 30 layers, 2 refiner layers, 30 heads, cap_feat_dim 2560, rope_theta 256,
axes_dims [32, 48, 48], axes_lens [1536, 512, 512]; Qwen3-4B (hidden 2560, 36
layers, 32/8 heads of 128, SwiGLU 9728, vocab 151936, rope_theta 1e6); FLUX's VAE
(16 channels, 128/256/512/512, scaling 0.3611, shift 0.1159, no quant convs);
FlowMatchEulerDiscreteScheduler shift 3.0, static.

Usage: /work/venv/bin/python tools/reference/make_zimage_config.py
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "configs", "z-image-turbo")

DIT = dict(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2,
           n_heads=30, n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0,
           t_scale=1000.0, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512])
TEXT = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
            num_attention_heads=32, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6, rope_theta=1000000.0,
            max_position_embeddings=40960, tie_word_embeddings=True, hidden_act="silu", attention_bias=False)
VAE = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
           norm_num_groups=32, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
           use_post_quant_conv=False, mid_block_add_attention=True)


def count(module, prefix):
    return sum(p.numel() for n, p in module.named_parameters() if n == prefix or n.startswith(prefix + "."))


def dit_blocks(dit, n_layers, n_refiners):
    """farm's block list of the DiT with the parameters each block reads."""
    embed = sum(count(dit, p) for p in ["t_embedder", "all_x_embedder", "cap_embedder", "x_pad_token",
                                         "cap_pad_token"])
    blocks = [["embed", embed]]
    blocks += [[f"noise_refiner.{i}", count(dit, f"noise_refiner.{i}")] for i in range(n_refiners)]
    blocks += [[f"context_refiner.{i}", count(dit, f"context_refiner.{i}")] for i in range(n_refiners)]
    blocks += [[f"layers.{i}", count(dit, f"layers.{i}")] for i in range(n_layers)]
    blocks += [["all_final_layer.2-1", count(dit, "all_final_layer")]]
    assert sum(b[1] for b in blocks) == sum(p.numel() for p in dit.parameters())
    return blocks


def text_blocks(te, layers_used):
    blocks = [["embed_tokens", count(te, "embed_tokens")]]
    blocks += [[f"layers.{i}", count(te, f"layers.{i}")] for i in range(layers_used)]
    return blocks


def counts(dit_cfg, text_cfg, vae_cfg):
    from diffusers import AutoencoderKL, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model
    with torch.device("meta"):
        dit = ZImageTransformer2DModel(**dit_cfg)
        te = Qwen3Model(Qwen3Config(**text_cfg))
        vae = AutoencoderKL(**vae_cfg)
    used = text_cfg["num_hidden_layers"] - 1  # ZImagePipeline reads hidden_states[-2]
    return {"transformer": dit_blocks(dit, dit_cfg["n_layers"], dit_cfg["n_refiner_layers"]),
            "text_encoder": text_blocks(te, used),
            "text_encoder_total": sum(p.numel() for p in te.parameters()),
            "vae_decoder": count(vae, "decoder") + count(vae, "post_quant_conv")}


def main():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImageTransformer2DModel
    from transformers import Qwen3Config
    os.makedirs(OUT, exist_ok=True)
    with torch.device("meta"):
        ZImageTransformer2DModel(**DIT).save_config(os.path.join(OUT, "transformer"))
        AutoencoderKL(**VAE).save_config(os.path.join(OUT, "vae"))
    cfg = Qwen3Config(**TEXT)
    cfg.architectures = ["Qwen3Model"]
    cfg.save_pretrained(os.path.join(OUT, "text_encoder"))
    FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False).save_config(
        os.path.join(OUT, "scheduler"))
    with open(os.path.join(OUT, "model_index.json"), "w") as f:
        json.dump({"_class_name": "ZImagePipeline", "_diffusers_version": __import__("diffusers").__version__,
                   "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers",
                   "Qwen3Model"], "tokenizer": ["transformers", "Qwen2Tokenizer"],
                   "transformer": ["diffusers", "ZImageTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]},
                  f, indent=2)
        f.write("\n")
    tiny = os.path.join(ROOT, "tests", "data", "tiny-zimage")
    tiny_dit = {k: v for k, v in json.load(open(os.path.join(tiny, "transformer", "config.json"))).items()
                if not k.startswith("_")}
    tiny_text = {k: v for k, v in json.load(open(os.path.join(tiny, "text_encoder", "config.json"))).items()
                 if k in TEXT or k == "rope_parameters"}
    tiny_vae = {k: v for k, v in json.load(open(os.path.join(tiny, "vae", "config.json"))).items()
                if not k.startswith("_")}
    out = {"made_by": "tools/reference/make_zimage_config.py (diffusers/transformers on the meta device)",
           "configs/z-image-turbo": counts(DIT, TEXT, VAE),
           "tests/data/tiny-zimage": counts(tiny_dit, tiny_text, tiny_vae)}
    with open(os.path.join(ROOT, "tests", "data", "zimage_params.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    real = out["configs/z-image-turbo"]
    print("DiT", sum(b[1] for b in real["transformer"]) / 1e9, "B; main layer", real["transformer"][5][1] / 1e6,
          "M; text used", sum(b[1] for b in real["text_encoder"]) / 1e9, "B of", real["text_encoder_total"] / 1e9,
          "; VAE decoder", real["vae_decoder"] / 1e6, "M")


if __name__ == "__main__":
    main()
