#!/usr/bin/env python3
"""Writes reference.safetensors + reference.json into a tiny SDXL base folder (tests/data/tiny-sdxl).

As make_model_reference.py does for SD 1/2: everything computed by diffusers/transformers on the
CPU in fp32 from the folder as stored, so farm's SDXL path is checked against an independent
implementation. Layouts as there (NCHW latents, NHWC [B,H,W,3] pipeline images); ids I64.

Usage:  python tools/reference/make_sdxl_reference.py tests/data/tiny-sdxl
"""
import argparse
import json
import os

import torch

from make_model_reference import PROMPTS, SAMPLERS, gen, save_reference, versions, vae_reference

UNET_HW = (8, 12)

# Pipeline cases. negative_prompt None: diffusers' default, zeros for the unconditional rows
# (force_zeros_for_empty_prompt); size conditioning left at its defaults unless given.
CASES = [
    dict(name="euler", sampler="euler", prompt="a photo of a cat", negative_prompt=None,
         seed=42, steps=3, guidance=5.0, width=64, height=48),
    dict(name="euler_a_sizes", sampler="euler_a", prompt="A Red Circle, on the LEFT!!",
         negative_prompt="blurry, low quality", seed=1234, steps=4, guidance=6.0, width=48,
         height=64, original_size=(96, 80), crops_coords_top_left=(8, 4), target_size=(40, 56)),
    dict(name="dpmpp_2m_karras", sampler="dpmpp_2m_karras",
         prompt="a lighthouse at dusk, oil painting", negative_prompt=None, seed=2026, steps=3,
         guidance=1.0, width=64, height=64),
    dict(name="ddim", sampler="ddim", prompt="two dogs playing in the snow", negative_prompt="dark",
         seed=7, steps=3, guidance=4.0, width=48, height=48, original_size=(1024, 1024)),
]


@torch.no_grad()
def encoder_outputs(te, ids):
    out = te(ids, output_hidden_states=True)
    return out, out.hidden_states  # (embeddings, layer 1, ..., layer L)


@torch.no_grad()
def text_reference(pipe, out, info):
    ids1 = pipe.tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True,
                          return_tensors="pt").input_ids
    ids2 = pipe.tokenizer_2(PROMPTS, padding="max_length", max_length=77, truncation=True,
                            return_tensors="pt").input_ids
    _, hs1 = encoder_outputs(pipe.text_encoder, ids1)
    o2, hs2 = encoder_outputs(pipe.text_encoder_2, ids2)
    pe, _, pooled, _ = pipe.encode_prompt(PROMPTS, device="cpu", num_images_per_prompt=1,
                                          do_classifier_free_guidance=False)
    assert torch.equal(pe, torch.cat([hs1[-2], hs2[-2]], dim=-1))
    assert torch.equal(pooled, o2.text_embeds)
    pe2, _, pooled2, _ = pipe.encode_prompt(PROMPTS, device="cpu", num_images_per_prompt=1,
                                            do_classifier_free_guidance=False, clip_skip=1)
    assert torch.equal(pe2, torch.cat([hs1[-3], hs2[-3]], dim=-1)) and torch.equal(pooled2, pooled)
    out["text.ids"], out["text2.ids"] = ids1.to(torch.int64), ids2.to(torch.int64)
    out["text.prompt_embeds"], out["text.pooled"] = pe, pooled
    out["text.prompt_embeds_skip2"] = pe2
    info["text"] = {
        "prompts": PROMPTS,
        "text.ids / text2.ids": "tokenizer / tokenizer_2 (padding='max_length', max_length=77, "
                                f"truncation=True); pad tokens {pipe.tokenizer.pad_token!r} / "
                                f"{pipe.tokenizer_2.pad_token!r}",
        "text.prompt_embeds": "pipe.encode_prompt(prompts, do_classifier_free_guidance=False) "
                              "prompt_embeds: [text_encoder hidden_states[-2], text_encoder_2 "
                              "hidden_states[-2]] concatenated, no final layer norm (asserted)",
        "text.pooled": "its pooled_prompt_embeds: text_encoder_2(ids).text_embeds, the final-layer-"
                       "normed state at the first end token through text_projection (asserted)",
        "text.prompt_embeds_skip2": "encode_prompt(..., clip_skip=1) (A1111's 'clip skip 2'): "
                                    "hidden_states[-3] of both; pooled unchanged (asserted)",
    }


@torch.no_grad()
def unet_reference(pipe, out, info):
    unet = pipe.unet
    torch.manual_seed(1)
    h, w = UNET_HW
    sample = torch.randn(2, unet.config.in_channels, h, w)
    timestep = torch.tensor([999.0, 401.5])
    ehs = torch.randn(2, 77, unet.config.cross_attention_dim)
    text_embeds = torch.randn(2, pipe.text_encoder_2.config.projection_dim)
    time_ids = torch.tensor([[64.0, 96.0, 0.0, 0.0, 64.0, 96.0], [1024.0, 768.0, 16.0, 8.0, 512.0, 640.0]])
    res = unet(sample, timestep, encoder_hidden_states=ehs,
               added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
    out["unet.sample"], out["unet.timestep"], out["unet.encoder_hidden_states"] = sample, timestep, ehs
    out["unet.text_embeds"], out["unet.time_ids"], out["unet.out"] = text_embeds, time_ids, res
    info["unet"] = {
        "unet.out": "unet(sample, timestep, encoder_hidden_states, added_cond_kwargs={text_embeds, "
                    "time_ids}).sample",
        "inputs": "torch.manual_seed(1); randn sample, encoder_hidden_states, text_embeds; time_ids "
                  "literal (original h, w, crop top, left, target h, w)",
    }


def run_case(pipe, base_config, case, record_steps):
    import diffusers
    cls_name, overrides = SAMPLERS[case["sampler"]]
    pipe.scheduler = getattr(diffusers, cls_name).from_config(base_config, **overrides)
    steps = []

    def on_step_end(p, i, t, kw):
        steps.append(kw["latents"].clone())
        return kw

    extra = {k: tuple(case[k]) for k in ("original_size", "crops_coords_top_left", "target_size")
             if k in case}
    neg = None if case["negative_prompt"] is None else [case["negative_prompt"]]
    res = pipe([case["prompt"]], negative_prompt=neg, num_inference_steps=case["steps"],
               guidance_scale=case["guidance"], width=case["width"], height=case["height"],
               generator=[gen(case["seed"])], output_type="np",
               callback_on_step_end=on_step_end if record_steps else None, **extra)
    return torch.from_numpy(res.images), steps


@torch.no_grad()
def pipeline_reference(pipe, out, info):
    base_config = pipe.scheduler.config
    f = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    cases = []
    for case in CASES:
        n = case["name"]
        image, steps = run_case(pipe, base_config, case, record_steps=True)
        sched = pipe.scheduler
        shape = (1, pipe.unet.config.in_channels, case["height"] // f, case["width"] // f)
        out[f"pipe.{n}.image"] = image
        out[f"pipe.{n}.latents0"] = torch.randn(shape, generator=gen(case["seed"]), dtype=torch.float32)
        out[f"pipe.{n}.latents_steps"] = torch.stack(steps)
        cls_name, overrides = SAMPLERS[case["sampler"]]
        rec = dict(case)
        rec.update({"scheduler_class": cls_name, "scheduler_overrides": overrides,
                    "timesteps": [float(t) for t in sched.timesteps],
                    "image_std": float(image.std())})
        cases.append(rec)
        print(f"  {n}: image std {rec['image_std']:.3f}")
    info["pipeline"] = {
        "how": "StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=float32); "
               "pipe.scheduler = <scheduler_class>.from_config(<folder scheduler config>, "
               "**scheduler_overrides); pipe([prompt], negative_prompt=[negative_prompt] or None, "
               "num_inference_steps, guidance_scale, width, height, generator=[Generator('cpu')."
               "manual_seed(seed)], output_type='np', original_size / crops_coords_top_left / "
               "target_size where the case gives them)",
        "negative_prompt None": "force_zeros_for_empty_prompt: the unconditional rows' embeddings "
                                "and pooled embeddings are zeros",
        "pipe.<case>.latents0": "torch.randn([1, 4, h/f, w/f], generator=Generator('cpu')."
                                "manual_seed(seed)) (before init_noise_sigma)",
        "pipe.<case>.latents_steps": "latents after each scheduler step",
        "vae_scale_factor_f": f,
        "cases": cases,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    from diffusers import StableDiffusionXLPipeline
    pipe = StableDiffusionXLPipeline.from_pretrained(args.folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    out, info = {}, {"versions": versions(), "device": "cpu", "dtype": "float32",
                     "weights": "the folder's stored F16/BF16/F32 weights upcast to fp32"}
    text_reference(pipe, out, info)
    unet_reference(pipe, out, info)
    vae_reference(pipe, out, info)
    pipeline_reference(pipe, out, info)
    save_reference(args.folder, out, info)


if __name__ == "__main__":
    main()
