#!/usr/bin/env python3
"""Builds the tiny random-weight Z-Image pipeline folder farm's Z-Image tests load,
tests/data/tiny-zimage, and its reference.safetensors / reference.json.

The text side, the VAE, the transformer (one forward per case), scheduler/
(FlowMatchEulerDiscreteScheduler, shift 3.0, static, as Z-Image-Turbo's) and
model_index.json; then whole ZImagePipeline runs (PIPELINE_CASES): latents
after every step, the final latents and the image. tokenizer/ is made by make_qwen_tokenizer.py (a small
byte-level BPE with Qwen2's pre-tokenizer and Qwen3's added tokens and chat
template); this adds text_encoder/, a tiny transformers Qwen3Model with the
real model's structure and odd sizes (hidden 72, 6 query heads on 2 k/v heads
of head_dim 20, so the q width 120 is not the hidden size; SwiGLU 100; 4 layers,
of which ZImagePipeline reads hidden_states[-2], after layer index 2), all
weights drawn from a fixed seed, norm scales perturbed off 1.

vae/ is a tiny FLUX-style AutoencoderKL as Z-Image's: 16 latent channels, no
quant_conv / post_quant_conv, scaling_factor 0.3611 and shift_factor 0.1159,
two levels of 16 and 24 channels (8 groups), one resnet per level, the mid
attention.

The text reference is diffusers' own ZImagePipeline._encode_prompt (chat template,
padding to 512 with a mask, hidden_states[-2], real rows kept) on the prompts
below, called with this folder's tokenizer and text encoder; fp32 on the CPU.

Usage:  python tools/reference/make_qwen_tokenizer.py
        python tools/reference/make_tiny_zimage.py
"""
import json
import os
import sys
from types import SimpleNamespace

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_model_reference import save_reference, versions  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FOLDER = os.path.join(ROOT, "tests", "data", "tiny-zimage")
SEED = 2025

TEXT_CONFIG = dict(hidden_size=72, intermediate_size=100, num_hidden_layers=4, num_attention_heads=6,
                   num_key_value_heads=2, head_dim=20, rms_norm_eps=1e-6, rope_theta=1000000.0,
                   max_position_embeddings=1024, tie_word_embeddings=True, hidden_act="silu",
                   attention_bias=False, torch_dtype="float32")

LONG = ("a highly detailed matte painting of a sprawling futuristic city at dusk, neon lights "
        "reflecting on wet streets, flying cars, towering skyscrapers, 一只猫 on a balcony, ") * 16
PROMPTS = ["a photo of a cat", "", "一只猫坐在窗台上，阳光明媚。", "A Red Circle, on the LEFT!! 😀 3.14",
           "  spaces\n\nand lines\t", LONG]


def make_text_encoder(vocab_size):
    from transformers import Qwen3Config, Qwen3Model
    cfg = Qwen3Config(vocab_size=vocab_size, **TEXT_CONFIG)
    torch.manual_seed(SEED)
    model = Qwen3Model(cfg).eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # RMSNorm scales start at 1: perturb them
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:  # larger than the 0.02 init, so attention is not uniform
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))
    return model


@torch.no_grad()
def text_reference(tok, te, out, info):
    from diffusers import ZImagePipeline
    fake = SimpleNamespace(tokenizer=tok, text_encoder=te, _execution_device=torch.device("cpu"))
    embeds = ZImagePipeline._encode_prompt(fake, list(PROMPTS), device=torch.device("cpu"))
    for i, (p, e) in enumerate(zip(PROMPTS, embeds)):
        text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                       add_generation_prompt=True, enable_thinking=True)
        ids = tok([text], max_length=512, truncation=True).input_ids[0]
        assert len(ids) == e.shape[0]
        out[f"text.ids.{i}"] = torch.tensor(ids, dtype=torch.int64)
        out[f"text.embeds.{i}"] = e
    info["text"] = {
        "prompts": PROMPTS,
        "text.ids.i": "tokenizer(apply_chat_template(prompt i), max_length=512, truncation=True): real tokens",
        "text.embeds.i": "ZImagePipeline._encode_prompt([prompts]) row i: text_encoder(padded to 512, mask)"
                         ".hidden_states[-2], rows where the mask is 1",
    }


def make_vae():
    from diffusers import AutoencoderKL
    torch.manual_seed(SEED + 2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 24), layers_per_block=1,
                        latent_channels=16, norm_num_groups=8, scaling_factor=0.3611, shift_factor=0.1159,
                        use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True).eval()
    gen = torch.Generator().manual_seed(SEED + 3)
    with torch.no_grad():
        for p in vae.parameters():  # norm scales start at 1 and biases at 0: perturb every constant tensor
            flat = p.reshape(-1)
            if flat.numel() > 1 and bool((flat == flat[0]).all()):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return vae


@torch.no_grad()
def vae_reference(vae, out, info):
    """The pipeline's decode: (latents / scaling_factor) + shift_factor, then vae.decode."""
    latents = torch.randn(2, 16, 6, 5, generator=torch.Generator().manual_seed(SEED + 4))
    z = (latents / vae.config.scaling_factor) + vae.config.shift_factor
    out["vae.latents"], out["vae.image"] = latents, vae.decode(z, return_dict=False)[0]
    info["vae"] = {"vae.latents": "pipeline latents [B, 16, h, w]",
                   "vae.image": "vae.decode((latents / scaling_factor) + shift_factor), as ZImagePipeline decodes"}


DIT_CONFIG = dict(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=96, n_layers=2,
                  n_refiner_layers=1, n_heads=3, n_kv_heads=3, norm_eps=1e-5, qk_norm=True,
                  cap_feat_dim=TEXT_CONFIG["hidden_size"], rope_theta=256.0, t_scale=1000.0,
                  axes_dims=[8, 12, 12], axes_lens=[1024, 64, 64])

# (caption: the text reference's prompt index, latent h, w, the pipeline's t = 1 - sigma)
DIT_CASES = [(0, 6, 10, 0.3), (3, 8, 8, 0.9), (1, 4, 6, 0.0)]


def make_transformer():
    from diffusers import ZImageTransformer2DModel
    torch.manual_seed(SEED + 5)
    dit = ZImageTransformer2DModel(**DIT_CONFIG).eval()
    gen = torch.Generator().manual_seed(SEED + 6)
    with torch.no_grad():
        for p in dit.parameters():  # norm scales, pad tokens and zero-initialized layers: perturb them
            flat = p.reshape(-1)
            if flat.numel() == 1 or bool((flat == flat[0]).all()):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return dit


@torch.no_grad()
def dit_reference(dit, out, info):
    """The transformer as ZImagePipeline calls it: x = latents.unsqueeze(2) per item, cap_feats the
    prompt's embedding rows, t = (1000 - timestep) / 1000; its raw output (the pipeline negates it)."""
    for i, (cap, h, w, t) in enumerate(DIT_CASES):
        latents = torch.randn(1, 16, h, w, generator=torch.Generator().manual_seed(SEED + 10 + i))
        caption = out[f"text.embeds.{cap}"]
        pred = dit(list(latents.unsqueeze(2).unbind(0)), torch.tensor([t]), [caption], return_dict=False)[0]
        out[f"dit.latents.{i}"], out[f"dit.t.{i}"] = latents, torch.tensor([t])
        out[f"dit.out.{i}"] = torch.stack(pred).squeeze(2)  # the caption is text.embeds.{cap}
    info["dit"] = {"cases": [dict(caption=c, h=h, w=w, t=t) for c, h, w, t in DIT_CASES],
                   "dit.out.i": "transformer(list(latents.unsqueeze(2).unbind(0)), t, [caption])[0], "
                                "stacked, the frame axis squeezed: [1, 16, h, w], not negated"}


# Whole pipeline runs. guidance 0 is Turbo's (no CFG); > 0 turns on CFG with the
# negative prompt ("" by default, still templated). dynamic: the scheduler with
# use_dynamic_shifting (mu from the image's token count).
PIPELINE_CASES = [
    dict(name="turbo", prompt="a photo of a cat", negative_prompt=None, seed=42, steps=3, guidance=0.0,
         width=32, height=24, dynamic=False),
    dict(name="cfg", prompt="一只猫坐在窗台上，阳光明媚。", negative_prompt="blurry, low quality", seed=1234, steps=4,
         guidance=4.0, width=40, height=32, dynamic=False),
    dict(name="cfg_empty_negative_dynamic", prompt="A Red Circle, on the LEFT!! 😀", negative_prompt=None, seed=7,
         steps=2, guidance=2.5, width=24, height=40, dynamic=True),
]


@torch.no_grad()
def pipeline_reference(pipe, out, info):
    from diffusers import FlowMatchEulerDiscreteScheduler
    static = pipe.scheduler
    for c in PIPELINE_CASES:
        pipe.scheduler = (FlowMatchEulerDiscreteScheduler.from_config(static.config, use_dynamic_shifting=True)
                          if c["dynamic"] else static)
        steps = []

        def record(p, i, t, kw):
            steps.append(kw["latents"].clone())
            return kw

        image = pipe(prompt=c["prompt"], negative_prompt=c["negative_prompt"], num_inference_steps=c["steps"],
                     guidance_scale=c["guidance"], width=c["width"], height=c["height"],
                     generator=torch.Generator("cpu").manual_seed(c["seed"]), output_type="np",
                     callback_on_step_end=record, callback_on_step_end_tensor_inputs=["latents"]).images
        n = c["name"]
        out[f"pipe.{n}.latents"] = torch.stack(steps)  # [steps, 1, 16, h, w]
        out[f"pipe.{n}.image"] = torch.from_numpy(image)  # [1, H, W, 3] in [0, 1]
        c["scheduler_config"] = dict(pipe.scheduler.config)
    pipe.scheduler = static
    info["pipeline"] = {"cases": PIPELINE_CASES,
                        "pipe.NAME.latents": "latents after each step (callback_on_step_end)",
                        "pipe.NAME.image": "output_type='np': (decode / 2 + 0.5).clamp(0, 1), [1, H, W, 3]"}


def main():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(os.path.join(FOLDER, "tokenizer"))
    te = make_text_encoder(len(tok))
    te.save_pretrained(os.path.join(FOLDER, "text_encoder"), safe_serialization=True)
    os.chmod(os.path.join(FOLDER, "text_encoder", "model.safetensors"), 0o644)
    out, info = {}, {"made_by": "tools/reference/make_tiny_zimage.py", "versions": versions()}
    text_reference(tok, te, out, info)
    vae = make_vae()
    vae.save_pretrained(os.path.join(FOLDER, "vae"), safe_serialization=True)
    os.chmod(os.path.join(FOLDER, "vae", "diffusion_pytorch_model.safetensors"), 0o644)
    vae_reference(vae, out, info)
    dit = make_transformer()
    dit.save_pretrained(os.path.join(FOLDER, "transformer"), safe_serialization=True)
    os.chmod(os.path.join(FOLDER, "transformer", "diffusion_pytorch_model.safetensors"), 0o644)
    dit_reference(dit, out, info)
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)
    pipe = ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=te, tokenizer=tok, transformer=dit)
    # save_pretrained writes model_index.json and scheduler/, and saves every part again; the
    # tokenizer would come back with the last call's truncation state: keep make_qwen_tokenizer's.
    tok_dir = os.path.join(FOLDER, "tokenizer")
    kept = {n: open(os.path.join(tok_dir, n), "rb").read() for n in os.listdir(tok_dir)}
    pipe.save_pretrained(FOLDER, safe_serialization=True)
    for n in os.listdir(tok_dir):
        os.remove(os.path.join(tok_dir, n))
    for n, b in kept.items():
        open(os.path.join(tok_dir, n), "wb").write(b)
    for part, name in [("text_encoder", "model.safetensors"), ("vae", "diffusion_pytorch_model.safetensors"),
                       ("transformer", "diffusion_pytorch_model.safetensors")]:
        os.chmod(os.path.join(FOLDER, part, name), 0o644)
    pipeline_reference(pipe, out, info)
    save_reference(FOLDER, out, info)
    shapes = {k: list(v.shape) for k, v in out.items() if k.startswith("text.embeds")}
    assert max(s[0] for s in shapes.values()) == 512, "one prompt must be cut at 512 tokens"
    print(shapes)


if __name__ == "__main__":
    main()
