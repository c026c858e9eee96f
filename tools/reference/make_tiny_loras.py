#!/usr/bin/env python3
"""Makes small LoRAs for the tiny models and diffusers' renders with them.

For each of tests/data/tiny-sd1 and tiny-sd2 this writes tests/data/lora/<model>/:

  peft.safetensors    diffusers/PEFT format, written by StableDiffusionPipeline.save_lora_weights
                      (keys unet.<module>.lora_A.weight / lora_B.weight, text_encoder.<module>...;
                      lora_alpha in the `lora_adapter_metadata` field of __metadata__), F32
  kohya.safetensors   the same tensors under kohya names (lora_unet_<module with _>.lora_down.weight,
                      .lora_up.weight, .alpha; lora_te_text_model_<...>), F16 (the tensors are drawn
                      already rounded to F16, so both files hold the same values)
  reference.safetensors, reference.json   diffusers' render with each file loaded
                      (pipe.load_lora_weights + pipe.set_adapters([name], [w])) at w = 0.5 and 1.0

The LoRAs patch the UNet's attention projections (to_q/k/v/out.0), proj_in (a 1x1 conv in tiny-sd1),
ff.net.2, time_emb_proj, the resnets' 3x3 conv1/conv2 (LoCon), conv_shortcut, the down/upsamplers'
convs (stride 2 in the downsamplers) and conv_in; and the text encoder's q/k/v/out_proj and fc1/fc2.
UNet rank 4 with lora_alpha 6, text encoder rank 2 with lora_alpha 3 (alpha != rank, so a loader
that ignores alpha fails). PEFT initialises lora_B to zero; here both A and B are random (fixed
seed), scaled so that an update is about half the size of the weight it patches.

Everything is computed on the CPU in fp32 from the tiny folders as stored (see README.md). The
kohya file is checked to load in diffusers to the same render as the PEFT one (max |diff| recorded).

Usage:  nice python tools/reference/make_tiny_loras.py          # ~1-2 min, from the repository root
Versions: torch 2.15.0+cu132 (CPU), diffusers 0.42.1, peft 0.21.2, transformers 5.23.0,
safetensors 0.8.0, Python 3.11.7 (recorded in each reference.json).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODELS = ["tiny-sd1", "tiny-sd2", "tiny-sdxl"]
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "ff.net.2", "time_emb_proj",
                "conv1", "conv2", "conv_shortcut", "conv", "conv_in"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
UNET_R, UNET_ALPHA = 4, 6.0
TE_R, TE_ALPHA = 2, 3.0
WEIGHTS = [0.5, 1.0]
# The render: tiny-sd references' "ddim" case (CFG with a negative prompt, 4 steps).
CASE = dict(prompt="a photo of a cat", negative_prompt="blurry, low quality", seed=42, steps=4,
            guidance=7.5, width=64, height=48, sampler="ddim")


def allow_peft_0_21():
    """transformers 5.23 asks for peft >= 0.22, which is not published (0.21.2 is the newest): its
    text-encoder adapter calls (add_adapter, load_adapter) refuse to run. The check is only a
    version compare; with it relaxed the calls work with peft 0.21.2 (the PEFT file loads back
    into the text encoder with equal tensors: checked below)."""
    import transformers.integrations.peft as tp
    tp.check_peft_version = lambda min_version: None


def versions():
    import diffusers
    import peft
    import safetensors
    import transformers
    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "peft": peft.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "python": sys.version.split()[0]}


def randomise(model, seed, alpha, r):
    """Random non-zero A and B (rounded to F16), |B·A|·alpha/r about half of |W|."""
    g = torch.Generator("cpu").manual_seed(seed)
    for name, mod in sorted(model.named_modules()):
        if not hasattr(mod, "lora_A") or "default" not in mod.lora_A:
            continue
        a, b = mod.lora_A["default"].weight, mod.lora_B["default"].weight
        w = mod.base_layer.weight
        fan_in = a[0].numel()
        sigma = 0.5 * float(w.std()) * (fan_in / r) ** 0.5 / (alpha / r)
        a.data = (torch.randn(a.shape, generator=g) / fan_in ** 0.5).half().float()
        b.data = (torch.randn(b.shape, generator=g) * sigma).half().float()


def sgm_module(module, unet_cfg):
    """SDXL: the original (SGM) name of a diffusers UNet module, as kohya's sd-scripts write SDXL
    LoRAs (lora_unet_input_blocks_4_1_..., lora_unet_middle_block_..., lora_unet_output_blocks_...);
    through make_single_files' checkpoint key map (checked there against diffusers)."""
    from make_single_files import unet_to_ldm
    key = next(iter(unet_to_ldm({module + ".weight": None}, unet_cfg)))
    return key[len("model.diffusion_model."):-len(".weight")]


def kohya_state_dict(unet_sd, te_sd, te2_sd=None, unet_cfg=None):
    """PEFT keys -> kohya names, F16, with an .alpha per module. SDXL (te2_sd): lora_te1_ and
    lora_te2_ for its two text encoders and the UNet's original (SGM) module names, as kohya's
    sd-scripts name them."""
    out = {}
    parts = [("lora_unet_", unet_sd, UNET_ALPHA), ("lora_te_" if te2_sd is None else "lora_te1_", te_sd, TE_ALPHA)]
    if te2_sd is not None:
        parts.append(("lora_te2_", te2_sd, TE_ALPHA))
    for prefix, sd, alpha in parts:
        for k, v in sd.items():
            module, kind = k.rsplit(".lora_", 1)  # "<module>", "A.weight" / "B.weight"
            if prefix.startswith("lora_te") and not module.startswith("text_model."):
                module = "text_model." + module  # kohya names CLIP's modules from text_model
            if prefix == "lora_unet_" and te2_sd is not None:
                module = sgm_module(module, unet_cfg)
            name = prefix + module.replace(".", "_")
            out[name + (".lora_down.weight" if kind == "A.weight" else ".lora_up.weight")] = v.half()
            out[name + ".alpha"] = torch.tensor(alpha, dtype=torch.float16)
    return out


@torch.no_grad()
def render(pipe, adapter=None, weight=None):
    """The case's text embeddings, latents after every step and image; adapter None: no LoRA."""
    from diffusers import DDIMScheduler
    if adapter is not None:
        pipe.set_adapters([adapter], [weight])
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    steps = []

    def on_step_end(p, i, t, kw):
        steps.append(kw["latents"].clone())
        return kw

    prompt_embeds = pipe.encode_prompt([CASE["prompt"]], device="cpu", num_images_per_prompt=1,
                                       do_classifier_free_guidance=False)[0]
    res = pipe([CASE["prompt"]], negative_prompt=[CASE["negative_prompt"]],
               num_inference_steps=CASE["steps"], guidance_scale=CASE["guidance"],
               width=CASE["width"], height=CASE["height"],
               generator=[torch.Generator("cpu").manual_seed(CASE["seed"])], output_type="np",
               callback_on_step_end=on_step_end)
    return {"text": prompt_embeds, "latents_steps": torch.stack(steps),
            "image": torch.from_numpy(res.images)}


def load_pipe(folder):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    if os.path.isdir(os.path.join(folder, "text_encoder_2")):
        pipe = StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    else:
        pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make(model, out_dir):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file
    folder = os.path.join("tests/data", model)
    os.makedirs(out_dir, exist_ok=True)

    pipe = load_pipe(folder)
    xl = hasattr(pipe, "text_encoder_2")
    unet_cfg = LoraConfig(r=UNET_R, lora_alpha=UNET_ALPHA, target_modules=UNET_TARGETS)
    te_cfg = LoraConfig(r=TE_R, lora_alpha=TE_ALPHA, target_modules=TE_TARGETS)
    pipe.unet.add_adapter(unet_cfg)
    pipe.text_encoder.add_adapter(te_cfg)
    randomise(pipe.unet, 11, UNET_ALPHA, UNET_R)
    randomise(pipe.text_encoder, 12, TE_ALPHA, TE_R)
    unet_sd = get_peft_model_state_dict(pipe.unet)
    te_sd = get_peft_model_state_dict(pipe.text_encoder)
    te2_sd = None
    if xl:  # SDXL: the second text encoder too
        from diffusers import StableDiffusionXLPipeline
        pipe.text_encoder_2.add_adapter(te_cfg)
        randomise(pipe.text_encoder_2, 13, TE_ALPHA, TE_R)
        te2_sd = get_peft_model_state_dict(pipe.text_encoder_2)
        StableDiffusionXLPipeline.save_lora_weights(
            out_dir, unet_lora_layers=unet_sd, text_encoder_lora_layers=te_sd, text_encoder_2_lora_layers=te2_sd,
            weight_name="peft.safetensors", unet_lora_adapter_metadata=unet_cfg.to_dict(),
            text_encoder_lora_adapter_metadata=te_cfg.to_dict(),
            text_encoder_2_lora_adapter_metadata=te_cfg.to_dict())
    else:
        StableDiffusionPipeline.save_lora_weights(
            out_dir, unet_lora_layers=unet_sd, text_encoder_lora_layers=te_sd, weight_name="peft.safetensors",
            unet_lora_adapter_metadata=unet_cfg.to_dict(), text_encoder_lora_adapter_metadata=te_cfg.to_dict())
    unet_cfg_dict = json.load(open(os.path.join(folder, "unet", "config.json")))
    save_file({k: v.contiguous() for k, v in kohya_state_dict(unet_sd, te_sd, te2_sd, unet_cfg_dict).items()},
              os.path.join(out_dir, "kohya.safetensors"))
    del pipe

    # Fresh pipelines, as a user would: the files are all diffusers sees.
    out, info = {}, {"versions": versions(), "device": "cpu", "dtype": "float32", "case": CASE,
                     "unet": {"r": UNET_R, "lora_alpha": UNET_ALPHA, "target_modules": UNET_TARGETS},
                     "text_encoder": {"r": TE_R, "lora_alpha": TE_ALPHA, "target_modules": TE_TARGETS},
                     "weights": WEIGHTS, "kohya_vs_peft_max_abs_diff": {}}
    results = {}
    for fmt in ("peft", "kohya"):
        pipe = load_pipe(folder)
        pipe.load_lora_weights(out_dir, weight_name=f"{fmt}.safetensors", adapter_name=fmt)
        # Every module of the file landed, with its tensors (a dropped key would go unnoticed).
        for part, want in (("unet", unet_sd), ("text_encoder", te_sd)) + ((("text_encoder_2", te2_sd),) if xl else ()):
            got = get_peft_model_state_dict(getattr(pipe, part), adapter_name=fmt)
            assert sorted(got) == sorted(want), f"{fmt} {part}: {set(got) ^ set(want)}"
            assert all(torch.equal(got[k], want[k]) for k in want), f"{fmt} {part}: tensors differ"
        for w in WEIGHTS:
            results[(fmt, w)] = render(pipe, fmt, w)
        del pipe
    base = render(load_pipe(folder))  # how far the LoRA moves the render (a weak LoRA would show)
    for w in WEIGHTS:
        r, k = results[("peft", w)], results[("kohya", w)]
        tag = f"w{w:g}"
        for name, v in r.items():
            out[f"{tag}.{name}"] = v
        info["kohya_vs_peft_max_abs_diff"][tag] = {n: float((r[n] - k[n]).abs().max()) for n in r}
        info.setdefault("lora_effect_max_abs", {})[tag] = {n: float((r[n] - base[n]).abs().max()) for n in r}
        print(f"  {model} {tag}: kohya vs peft {info['kohya_vs_peft_max_abs_diff'][tag]}, "
              f"effect {info['lora_effect_max_abs'][tag]}")
    info["how"] = ("StableDiffusionPipeline.from_pretrained(folder, torch_dtype=float32, safety_checker=None); "
                   "pipe.load_lora_weights(dir, weight_name='peft.safetensors', adapter_name='peft'); "
                   "pipe.set_adapters(['peft'], [w]); pipe.scheduler = DDIMScheduler.from_config(...); "
                   "w<w>.text = pipe.encode_prompt([prompt])[0] [1,77,D]; w<w>.latents_steps [steps,1,4,h,w] "
                   "from callback_on_step_end; w<w>.image [1,H,W,3] output_type='np'")
    out = {k: v.detach().float().contiguous() for k, v in out.items()}
    info["tensors"] = {k: list(v.shape) for k, v in sorted(out.items())}
    save_file(out, os.path.join(out_dir, "reference.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    for name in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, name), 0o644)


def main():
    allow_peft_0_21()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    only = sys.argv[1:] or MODELS
    for model in only:
        print(model)
        make(model, os.path.join("tests/data/lora", model))


if __name__ == "__main__":
    main()
