#!/usr/bin/env python3
"""Writes reference.safetensors + reference.json into each tiny model folder.

Everything is computed by PyTorch/diffusers/transformers on the CPU in fp32, from the
folder as stored (F16/BF16 weights loaded back and upcast to fp32), so farm's engine
can be checked against an independent implementation. Tensors use torch layouts
(NCHW for latents and VAE images, NHWC [B,H,W,3] for pipeline images as diffusers
returns them with output_type="np"); token ids are I64; everything else F32.
reference.json lists every tensor with its shape and the exact formula that made it.

Usage:  python tools/reference/make_model_reference.py tests/data/tiny-sd1 tests/data/tiny-sd2
"""
import argparse
import json
import os
import sys

import torch

PROMPTS = ["a photo of a cat", "", "A Red Circle, on the LEFT!!"]

# (farm sampler name, diffusers class, from_config overrides)
SAMPLERS = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
}

# Pipeline cases. negative_prompt None and guidance 1.0 both mean no unconditional branch
# in diffusers (do_classifier_free_guidance is guidance > 1).
CASES = [
    dict(name="ddim", sampler="ddim", prompt="a photo of a cat",
         negative_prompt="blurry, low quality", seed=42, steps=4, guidance=7.5, width=64, height=48),
    dict(name="euler", sampler="euler", prompt="A Red Circle, on the LEFT!!",
         negative_prompt=None, seed=1234, steps=3, guidance=1.0, width=48, height=64),
    dict(name="euler_a", sampler="euler_a", prompt="a photo of a cat",
         negative_prompt="", seed=7, steps=4, guidance=5.0, width=64, height=48),
    dict(name="dpmpp_2m", sampler="dpmpp_2m", prompt="a lighthouse at dusk, oil painting",
         negative_prompt=None, seed=99, steps=3, guidance=3.0, width=64, height=64),
    dict(name="dpmpp_2m_karras", sampler="dpmpp_2m_karras",
         prompt="a lighthouse at dusk, oil painting", negative_prompt="dark", seed=2026,
         steps=4, guidance=6.0, width=64, height=48),
]
# Second item of the batch-invariance check (paired with each case's own prompt and seed).
BATCH_PARTNER = dict(prompt="two dogs playing in the snow", seed_offset=1)

UNET_HW = (8, 12)    # non-square, divisible by 4 so both tiny UNets downsample cleanly
VAE_LATENT_HW = (6, 10)


def versions():
    import diffusers
    import safetensors
    import transformers
    return {"torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "python": sys.version.split()[0]}


def gen(seed):
    return torch.Generator("cpu").manual_seed(seed)


def open_clip_ids(prompt, bos, eos, pad):
    """Token ids from open_clip's own BPE (an independent tokenizer), padded like HF."""
    from open_clip.tokenizer import SimpleTokenizer
    tok = SimpleTokenizer()
    ids = [bos] + tok.encode(prompt)[:75] + [eos]
    return ids + [pad] * (77 - len(ids))


@torch.no_grad()
def text_reference(pipe, out, info):
    tok, te = pipe.tokenizer, pipe.text_encoder
    ids = tok(PROMPTS, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    pad = tok.convert_tokens_to_ids(tok.pad_token)
    agree = [open_clip_ids(p, tok.bos_token_id, tok.eos_token_id, pad) == row
             for p, row in zip(PROMPTS, ids.tolist())]
    # Known diffusers quirk (diffusers issue #4153): with SD2's pad_token '!', the HF tokenizer
    # splits every '!' out as the special token (id 0) instead of BPE-merging it ('!!</w>').
    # The reference is what diffusers does; only prompts without the pad text must agree.
    quirk = tok.pad_token != tok.eos_token
    for p, ok in zip(PROMPTS, agree):
        assert ok or (quirk and tok.pad_token in p), f"HF CLIPTokenizer and open_clip disagree on {p!r}"

    enc = te(ids, output_hidden_states=True)
    hs = enc.hidden_states  # (embeddings, layer 1, ..., layer L)
    assert len(hs) == te.config.num_hidden_layers + 1
    final_ln = te.final_layer_norm if hasattr(te, "final_layer_norm") else te.text_model.final_layer_norm
    clip_skip1 = final_ln(hs[-2])

    # The pipeline's own prompt_embeds: clip_skip None must equal last_hidden_state.
    pe, _ = pipe.encode_prompt(PROMPTS, "cpu", 1, False)
    assert torch.equal(pe, enc.last_hidden_state)
    try:  # diffusers 0.42 reaches te.text_model, which transformers 5's CLIPTextModel lacks
        pe1, _ = pipe.encode_prompt(PROMPTS, "cpu", 1, False, clip_skip=1)
        assert torch.equal(pe1, clip_skip1)
        clip_skip_note = "checked equal to pipe.encode_prompt(..., clip_skip=1)"
    except AttributeError as e:
        clip_skip_note = (f"pipe.encode_prompt(clip_skip=1) raises AttributeError ({e}) with these "
                          "versions; computed with diffusers' formula directly")

    out["text.ids"] = ids.to(torch.int64)
    out["text.last_hidden"] = enc.last_hidden_state
    out["text.penultimate"] = hs[-2]
    out["text.clip_skip1"] = clip_skip1
    info["text"] = {
        "prompts": PROMPTS,
        "tokenizer": f"CLIPTokenizer(padding='max_length', max_length=77, truncation=True), "
                     f"pad_token={tok.pad_token!r} (id {pad}); ids equal open_clip SimpleTokenizer's "
                     "[bos]+encode(prompt)[:75]+[eos] padded with pad id, except where noted",
        "open_clip_agrees": agree,
        "pad_token_quirk": (f"pad_token {tok.pad_token!r} is a special token: HF (and so diffusers) "
                            f"splits every {tok.pad_token!r} in a prompt out as id {pad} before BPE "
                            "(diffusers issue #4153); open_clip BPE-merges it") if quirk else None,
        "text.last_hidden": "text_encoder(ids).last_hidden_state (final_layer_norm applied) == "
                            "pipe.encode_prompt(prompts) prompt_embeds (clip_skip=None)",
        "text.penultimate": "text_encoder(ids, output_hidden_states=True).hidden_states[-2]: output "
                            "of the second-to-last encoder layer, NO final_layer_norm",
        "text.clip_skip1": "final_layer_norm(hidden_states[-2]) = diffusers prompt_embeds for "
                           "clip_skip=1 (hidden_states[-(clip_skip+1)] then final_layer_norm; "
                           "A1111 calls this 'clip skip 2'); " + clip_skip_note,
    }


@torch.no_grad()
def unet_reference(pipe, out, info):
    unet = pipe.unet
    torch.manual_seed(1)
    h, w = UNET_HW
    sample = torch.randn(2, unet.config.in_channels, h, w)
    timestep = torch.tensor([999.0, 401.5])
    ehs = torch.randn(2, 77, unet.config.cross_attention_dim)
    res = unet(sample, timestep, encoder_hidden_states=ehs).sample
    out["unet.sample"], out["unet.timestep"] = sample, timestep
    out["unet.encoder_hidden_states"], out["unet.out"] = ehs, res
    info["unet"] = {
        "unet.out": "unet(unet.sample, unet.timestep, encoder_hidden_states="
                    "unet.encoder_hidden_states).sample; timesteps are per batch item and one is "
                    "fractional (401.5): the sinusoidal embedding takes float timesteps",
        "inputs": "torch.manual_seed(1); randn sample then randn encoder_hidden_states",
    }


@torch.no_grad()
def vae_reference(pipe, out, info):
    vae = pipe.vae
    torch.manual_seed(2)
    latent = torch.randn(1, vae.config.latent_channels, *VAE_LATENT_HW)
    image = vae.decode(latent / vae.config.scaling_factor).sample
    out["vae.latent"], out["vae.image"] = latent, image
    info["vae"] = {
        "vae.image": "vae.decode(vae.latent / scaling_factor).sample (post_quant_conv + decoder, "
                     "NOT clamped, range about [-1, 1])",
        "scaling_factor": vae.config.scaling_factor,
        "vae_scale_factor": 2 ** (len(vae.config.block_out_channels) - 1),
    }


def run_case(pipe, base_config, case, prompts, negative, seeds, record_steps=False):
    import diffusers
    cls_name, overrides = SAMPLERS[case["sampler"]]
    pipe.scheduler = getattr(diffusers, cls_name).from_config(base_config, **overrides)
    drawn, steps = [], []
    orig_prepare = pipe.prepare_latents

    def prepare_latents(*a, **k):
        lat = orig_prepare(*a, **k)
        drawn.append(lat.clone())
        return lat

    def on_step_end(p, i, t, kw):
        steps.append(kw["latents"].clone())
        return kw

    pipe.prepare_latents = prepare_latents
    try:
        res = pipe(prompts, negative_prompt=negative, num_inference_steps=case["steps"],
                   guidance_scale=case["guidance"], width=case["width"], height=case["height"],
                   generator=[gen(s) for s in seeds], output_type="np",
                   callback_on_step_end=on_step_end if record_steps else None)
    finally:
        pipe.prepare_latents = orig_prepare
    return torch.from_numpy(res.images), drawn[0], steps


@torch.no_grad()
def pipeline_reference(pipe, out, info):
    base_config = pipe.scheduler.config
    f = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    cases, batch = [], {}
    for case in CASES:
        n = case["name"]
        neg = None if case["negative_prompt"] is None else [case["negative_prompt"]]
        image, drawn, steps = run_case(pipe, base_config, case, [case["prompt"]], neg,
                                       [case["seed"]], record_steps=True)
        sched = pipe.scheduler
        shape = (1, pipe.unet.config.in_channels, case["height"] // f, case["width"] // f)
        latents0 = torch.randn(shape, generator=gen(case["seed"]), dtype=torch.float32)
        assert torch.equal(drawn, latents0 * sched.init_noise_sigma), f"{n}: prepare_latents differs"
        out[f"pipe.{n}.image"] = image
        out[f"pipe.{n}.latents0"] = latents0
        out[f"pipe.{n}.latents_steps"] = torch.stack(steps)
        cls_name, overrides = SAMPLERS[case["sampler"]]
        rec = dict(case)
        rec.update({
            "scheduler_class": cls_name, "scheduler_overrides": overrides,
            "timesteps": [float(t) for t in sched.timesteps],
            "init_noise_sigma": float(sched.init_noise_sigma),
            "scheduler_config": {k: v for k, v in sched.config.items() if not k.startswith("_")},
            "image_std": float(image.std()),
            "image_saturated_fraction": float(((image <= 0) | (image >= 1)).float().mean()),
        })
        if hasattr(sched, "sigmas"):
            rec["sigmas"] = [float(s) for s in sched.sigmas]
        cases.append(rec)

        # Batch invariance of diffusers itself on the CPU: this case plus a partner in one call.
        seed2 = case["seed"] + BATCH_PARTNER["seed_offset"]
        prompts = [case["prompt"], BATCH_PARTNER["prompt"]]
        neg2 = None if neg is None else neg * 2
        pair, _, _ = run_case(pipe, base_config, case, prompts, neg2, [case["seed"], seed2])
        alone2, _, _ = run_case(pipe, base_config, case, [BATCH_PARTNER["prompt"]],
                                None if neg is None else neg, [seed2])
        batch[n] = {"max_abs_diff_item0": float((pair[0] - image[0]).abs().max()),
                    "max_abs_diff_item1": float((pair[1] - alone2[0]).abs().max())}
        print(f"  {n}: image std {rec['image_std']:.3f}, saturated "
              f"{rec['image_saturated_fraction']:.3f}, batch-of-2 max diff "
              f"{batch[n]['max_abs_diff_item0']:.3g} / {batch[n]['max_abs_diff_item1']:.3g}")
    info["pipeline"] = {
        "how": "StableDiffusionPipeline.from_pretrained(folder, torch_dtype=float32, "
               "safety_checker=None); pipe.scheduler = <scheduler_class>.from_config("
               "<folder scheduler config>, **scheduler_overrides); pipe(prompt=[prompt], "
               "negative_prompt=[negative_prompt] or None, num_inference_steps=steps, "
               "guidance_scale=guidance, width, height, generator=[torch.Generator('cpu')."
               "manual_seed(seed)], output_type='np')",
        "pipe.<case>.image": "[1, height, width, 3] float in [0, 1] (diffusers' (x/2+0.5).clamp(0,1))",
        "pipe.<case>.latents0": "[1, 4, height/f, width/f] = torch.randn(shape, generator="
                                "Generator('cpu').manual_seed(seed)); the pipeline starts from "
                                "latents0 * init_noise_sigma (asserted equal to prepare_latents)",
        "pipe.<case>.latents_steps": "[steps, 1, 4, height/f, width/f]: latents after each "
                                     "scheduler step (callback_on_step_end); the last is what the VAE "
                                     "decodes (after / scaling_factor)",
        "ancestral_noise": "euler_a draws its per-step noise from the same generator, after latents0",
        "vae_scale_factor_f": f,
        "cases": cases,
        "batch_invariance": {
            "how": "the same call with prompts [prompt, '" + BATCH_PARTNER["prompt"] + "'] and "
                   "generators [seed, seed+1]; item 0 compared with the single-prompt image, item 1 "
                   "with its own single-prompt run",
            "max_abs_diff": batch,
        },
    }


def make_reference(folder):
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32,
                                                   safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    for name in ("unet", "vae", "text_encoder"):
        assert all(p.dtype == torch.float32 for p in getattr(pipe, name).parameters())
    out, info = {}, {"versions": versions(), "device": "cpu", "dtype": "float32",
                     "weights": "the folder's stored F16/BF16/F32 weights upcast to fp32"}
    text_reference(pipe, out, info)
    unet_reference(pipe, out, info)
    vae_reference(pipe, out, info)
    pipeline_reference(pipe, out, info)
    save_reference(folder, out, info)


def save_reference(folder, out, info):
    """reference.safetensors (the tensors) and reference.json (their list and how they were made)."""
    from safetensors.torch import save_file
    out = {k: v.detach().contiguous() for k, v in out.items()}
    info["tensors"] = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                       for k, v in sorted(out.items())}
    save_file(out, os.path.join(folder, "reference.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(folder, "reference.safetensors"), 0o644)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(info, f, indent=2, default=list)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for folder in args.folders:
        print(folder)
        make_reference(folder)


if __name__ == "__main__":
    main()
