#!/usr/bin/env python3
"""Writes reference.safetensors + reference.json into the tiny SDXL refiner folder
(tests/data/tiny-sdxl-refiner): its text conditioning (second encoder only), its UNet with
the 5 aesthetic-score time ids, and diffusers' base -> refiner "ensemble of experts" on the
tiny base (tests/data/tiny-sdxl) for each sampler.

The ensemble, as diffusers documents it: the base pipeline runs with denoising_end=switch and
output_type="latent"; the refiner (StableDiffusionXLImg2ImgPipeline) takes those latents as
`image` with denoising_start=switch, the same prompt, steps and guidance, and decodes with its
own VAE. One torch.Generator seeded with the item's seed is passed to both calls, so an
ancestral sampler's noise stream continues across the switch. Everything on the CPU in fp32.

Usage:  python tools/reference/make_refiner_reference.py tests/data/tiny-sdxl tests/data/tiny-sdxl-refiner
"""
import argparse

import torch

from make_model_reference import PROMPTS, SAMPLERS, gen, save_reference, versions

UNET_HW = (8, 12)

# The switch is the fraction of the schedule the base runs (diffusers' denoising_end).
CASES = [
    dict(name="euler", sampler="euler", prompt="a photo of a cat", negative_prompt=None,
         seed=42, steps=5, guidance=5.0, width=64, height=48, switch=0.8),
    dict(name="euler_a", sampler="euler_a", prompt="A Red Circle, on the LEFT!!",
         negative_prompt="blurry, low quality", seed=1234, steps=6, guidance=6.0, width=48,
         height=64, switch=0.7, aesthetic_score=7.5, negative_aesthetic_score=1.5,
         original_size=(96, 80), crops_coords_top_left=(8, 4)),
    dict(name="dpmpp_2m_karras", sampler="dpmpp_2m_karras",
         prompt="a lighthouse at dusk, oil painting", negative_prompt="dark", seed=2026, steps=6,
         guidance=4.0, width=64, height=64, switch=0.8),
    dict(name="ddim", sampler="ddim", prompt="two dogs playing in the snow", negative_prompt=None,
         seed=7, steps=4, guidance=1.0, width=48, height=48, switch=0.5),
]


@torch.no_grad()
def text_reference(ref, out, info):
    pe, ne, pooled, npooled = ref.encode_prompt(PROMPTS, device="cpu", num_images_per_prompt=1,
                                                do_classifier_free_guidance=False)
    ids2 = ref.tokenizer_2(PROMPTS, padding="max_length", max_length=77, truncation=True,
                           return_tensors="pt").input_ids
    o2 = ref.text_encoder_2(ids2, output_hidden_states=True)
    assert torch.equal(pe, o2.hidden_states[-2]) and torch.equal(pooled, o2.text_embeds)
    out["text2.ids"], out["text.prompt_embeds"], out["text.pooled"] = ids2.to(torch.int64), pe, pooled
    info["text"] = {
        "prompts": PROMPTS,
        "text.prompt_embeds": "refiner.encode_prompt(prompts, do_classifier_free_guidance=False): "
                              "text_encoder_2 hidden_states[-2] alone (the refiner has no first "
                              "encoder; asserted)",
        "text.pooled": "its pooled_prompt_embeds: text_encoder_2(ids).text_embeds (asserted)",
    }


@torch.no_grad()
def unet_reference(ref, out, info):
    unet = ref.unet
    torch.manual_seed(1)
    h, w = UNET_HW
    sample = torch.randn(2, unet.config.in_channels, h, w)
    timestep = torch.tensor([199.0, 41.5])
    ehs = torch.randn(2, 77, unet.config.cross_attention_dim)
    text_embeds = torch.randn(2, ref.text_encoder_2.config.projection_dim)
    time_ids = torch.tensor([[64.0, 96.0, 0.0, 0.0, 6.0], [1024.0, 768.0, 16.0, 8.0, 2.5]])
    res = unet(sample, timestep, encoder_hidden_states=ehs,
               added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
    out["unet.sample"], out["unet.timestep"], out["unet.encoder_hidden_states"] = sample, timestep, ehs
    out["unet.text_embeds"], out["unet.time_ids"], out["unet.out"] = text_embeds, time_ids, res
    info["unet"] = {"unet.out": "unet(sample, timestep, encoder_hidden_states, added_cond_kwargs="
                                "{text_embeds, time_ids (original h, w, crop top, left, aesthetic "
                                "score)}).sample; inputs torch.manual_seed(1) randn"}


def ensemble(base, ref, base_config, ref_config, case):
    import diffusers
    cls_name, overrides = SAMPLERS[case["sampler"]]
    base.scheduler = getattr(diffusers, cls_name).from_config(base_config, **overrides)
    ref.scheduler = getattr(diffusers, cls_name).from_config(ref_config, **overrides)
    steps = []

    def on_step_end(p, i, t, kw):
        steps.append(kw["latents"].clone())
        return kw

    g = gen(case["seed"])
    neg = None if case["negative_prompt"] is None else [case["negative_prompt"]]
    common = dict(negative_prompt=neg, num_inference_steps=case["steps"],
                  guidance_scale=case["guidance"], generator=g, callback_on_step_end=on_step_end)
    size = {k: tuple(case[k]) for k in ("original_size", "crops_coords_top_left") if k in case}
    latents = base([case["prompt"]], width=case["width"], height=case["height"],
                   denoising_end=case["switch"], output_type="latent", **common, **size).images
    base_steps = len(steps)
    scores = {k: case[k] for k in ("aesthetic_score", "negative_aesthetic_score") if k in case}
    image = ref([case["prompt"]], image=latents, denoising_start=case["switch"], output_type="np",
                **common, **size, **scores).images
    return torch.from_numpy(image), latents, steps, base_steps, [float(t) for t in ref.scheduler.timesteps]


@torch.no_grad()
def ensemble_reference(base, ref, out, info):
    base_config, ref_config = base.scheduler.config, ref.scheduler.config
    cases = []
    for case in CASES:
        n = case["name"]
        image, latents, steps, base_steps, ref_ts = ensemble(base, ref, base_config, ref_config, case)
        out[f"pipe.{n}.image"] = image
        out[f"pipe.{n}.base_latents"] = latents
        out[f"pipe.{n}.latents_steps"] = torch.stack(steps)
        rec = dict(case)
        rec.update({"base_steps": base_steps, "refiner_steps": len(steps) - base_steps,
                    "refiner_timesteps": ref_ts, "image_std": float(image.std())})
        cases.append(rec)
        print(f"  {n}: base {base_steps} + refiner {len(steps) - base_steps} steps, image std "
              f"{rec['image_std']:.3f}")
    info["ensemble"] = {
        "how": "base = StableDiffusionXLPipeline(tests/data/tiny-sdxl), refiner = "
               "StableDiffusionXLImg2ImgPipeline(this folder), both fp32, each with <scheduler> "
               "from its own scheduler config; g = Generator('cpu').manual_seed(seed); latents = "
               "base([prompt], negative_prompt, num_inference_steps=steps, guidance_scale, width, "
               "height, denoising_end=switch, output_type='latent', generator=g); image = "
               "refiner([prompt], image=latents, denoising_start=switch, same negative prompt, "
               "steps, guidance, generator=g, aesthetic scores where given, output_type='np')",
        "pipe.<case>.base_latents": "the base's output latents (NCHW)",
        "pipe.<case>.latents_steps": "latents after each scheduler step, base steps then refiner's",
        "cases": cases,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("refiner")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline
    base = StableDiffusionXLPipeline.from_pretrained(args.base, torch_dtype=torch.float32)
    ref = StableDiffusionXLImg2ImgPipeline.from_pretrained(args.refiner, torch_dtype=torch.float32)
    for p in (base, ref):
        p.set_progress_bar_config(disable=True)
    out, info = {}, {"versions": versions(), "device": "cpu", "dtype": "float32",
                     "weights": "the folders' stored F16/BF16/F32 weights upcast to fp32"}
    text_reference(ref, out, info)
    unet_reference(ref, out, info)
    ensemble_reference(base, ref, out, info)
    save_reference(args.refiner, out, info)


if __name__ == "__main__":
    main()
