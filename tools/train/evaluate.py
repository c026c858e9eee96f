#!/usr/bin/env python3
"""Renders held-out captions with diffusers' own StableDiffusionPipeline from
the shipped folder, scores them with check.py, and (optionally) writes the
contact sheet and the references for farm's C++ tests.

Every image is rendered alone with torch.Generator("cpu").manual_seed(seed),
so it depends only on (prompt, seed, steps, sampler, guidance, size).

Usage:
  evaluate.py [--model models/tiny-shapes] [--sampler ddim] [--steps 25]
              [--guidance 3] [--train 0] [--sheet docs/tiny-shapes-contact-sheet.png]
              [--refs tests/data/shapes]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, StableDiffusionPipeline)
from PIL import Image, ImageDraw
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402
import shapes  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED0 = 1000      # held-out caption i renders with seed SEED0 + i
# A few (caption index, sampler, steps) renders kept as float references.
# Indices chosen to cover circle, square and triangle.
REFERENCES = [(0, "ddim", 25), (20, "euler", 25), (35, "euler_a", 25), (44, "dpmpp_2m", 20),
              (27, "dpmpp_2m_karras", 20)]


def set_sampler(pipe, name):
    cfg = pipe.scheduler.config
    if name == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(cfg)
    elif name == "euler":
        pipe.scheduler = EulerDiscreteScheduler.from_config(cfg)
    elif name == "euler_a":
        pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(cfg)
    elif name in ("dpmpp_2m", "dpmpp_2m_karras"):
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(
            cfg, algorithm_type="dpmsolver++", solver_order=2,
            use_karras_sigmas=name.endswith("karras"))
    else:
        raise ValueError(f"sampler {name!r}: expected ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras")


def render(pipe, prompt, seed, steps, guidance, sampler):
    """Returns (final latents [1,4,h,w] as the UNet sees them, image float [1,3,H,W] in
    [0,1], uint8 [H,W,3]) exactly as the pipeline's own postprocessing makes them."""
    set_sampler(pipe, sampler)
    g = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        lat = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=g,
                   height=shapes.SIZE, width=shapes.SIZE, output_type="latent").images
        img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
        img = (img / 2 + 0.5).clamp(0, 1)
    u8 = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return lat, img, u8


def contact_sheet(items, path, cols=4, scale=3):
    """items: list of (uint8 image, caption, verdict dict)."""
    tile, label = shapes.SIZE * scale, 30
    rows = (len(items) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (tile + 8), rows * (tile + label + 8)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (u8, cap, v) in enumerate(items):
        x, y = (i % cols) * (tile + 8) + 4, (i // cols) * (tile + label + 8) + 4
        sheet.paste(Image.fromarray(u8).resize((tile, tile), Image.NEAREST), (x, y))
        words = cap.replace(" background", " bg").split(", ")
        ok = "ok" if all(v.values()) else "miss: " + ",".join(a for a in check.ATTRIBUTES if not v[a])
        draw.text((x, y + tile + 1), words[0][2:], fill=(0, 0, 0))
        draw.text((x, y + tile + 11), words[1] + "  " + ok, fill=(0, 0, 0) if ok == "ok" else (200, 0, 0))
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tiny-shapes"))
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=1.5)
    ap.add_argument("--n", type=int, default=shapes.N_HELDOUT)
    ap.add_argument("--train", type=int, default=0, help="also score this many training captions")
    ap.add_argument("--fp32-dir", help="also compare renders with this fp32 export")
    ap.add_argument("--sheet")
    ap.add_argument("--refs")
    a = ap.parse_args()
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline.from_pretrained(a.model, torch_dtype=torch.float32, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    caps = shapes.heldout_captions()[:a.n]
    t0 = time.time()
    rows, verdicts, sheet_items = [], [], []
    for i, cap in enumerate(caps):
        _, _, u8 = render(pipe, cap, SEED0 + i, a.steps, a.guidance, a.sampler)
        v, got = check.judge(u8, cap)
        verdicts.append(v)
        sheet_items.append((u8, cap, v))
        rows.append({"prompt": cap, "negative_prompt": "", "seed": SEED0 + i, "steps": a.steps,
                     "guidance": a.guidance, "width": shapes.SIZE, "height": shapes.SIZE,
                     "sampler": a.sampler, "diffusers_verdict": v})
    s = check.summarise(verdicts)
    print(f"held-out ({len(caps)} captions, {a.sampler} {a.steps} steps, guidance {a.guidance}, "
          f"{time.time() - t0:.0f}s): " + ", ".join(f"{k} {x:.1f}%" for k, x in s.items()), flush=True)
    if a.train:
        tr = sorted({shapes.caption(*sc) for sc in shapes.train_scenes()})
        tr = [tr[j] for j in np.random.Generator(np.random.PCG64(5)).choice(len(tr), a.train, replace=False)]
        tv = [check.judge(render(pipe, c, SEED0 + j, a.steps, a.guidance, a.sampler)[2], c)[0]
              for j, c in enumerate(tr)]
        st = check.summarise(tv)
        print(f"training captions ({len(tr)}): " + ", ".join(f"{k} {x:.1f}%" for k, x in st.items()))
    if a.fp32_dir:
        p32 = StableDiffusionPipeline.from_pretrained(a.fp32_dir, torch_dtype=torch.float32, safety_checker=None)
        p32.set_progress_bar_config(disable=True)
        diffs, agree = [], 0
        for i, cap in enumerate(caps[:16]):
            _, im16, u16 = render(pipe, cap, SEED0 + i, a.steps, a.guidance, a.sampler)
            _, im32, u32 = render(p32, cap, SEED0 + i, a.steps, a.guidance, a.sampler)
            diffs.append((im16 - im32).abs().max().item())
            agree += check.judge(u16, cap)[0] == check.judge(u32, cap)[0]
        print(f"fp16-stored vs fp32: max |image diff| over 16 renders {max(diffs):.4f} "
              f"(mean of maxima {np.mean(diffs):.4f}), identical verdicts {agree}/16")
    if a.sheet:
        contact_sheet(sheet_items[::max(1, len(sheet_items) // 12)][:12], a.sheet)
        print("wrote", a.sheet)
    if a.refs:
        os.makedirs(a.refs, exist_ok=True)
        with open(os.path.join(a.refs, "heldout.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        tensors, meta = {}, []
        for idx, sampler, steps in REFERENCES:
            name = f"ref{idx}_{sampler}"
            lat, img, u8 = render(pipe, caps[idx], SEED0 + idx, steps, a.guidance, sampler)
            tensors[f"{name}.latents"] = lat.contiguous()
            Image.fromarray(u8).save(os.path.join(a.refs, f"{name}.png"))
            meta.append({"name": name, "prompt": caps[idx], "negative_prompt": "", "seed": SEED0 + idx,
                         "steps": steps, "guidance": a.guidance, "width": shapes.SIZE,
                         "height": shapes.SIZE, "sampler": sampler,
                         "verdict": check.judge(u8, caps[idx])[0]})
        # The text encoder's output for one prompt and for "" (the unconditional half of CFG).
        with torch.no_grad():
            for key, text in (("text.prompt0", caps[0]), ("text.empty", "")):
                ids = pipe.tokenizer(text, padding="max_length", max_length=77, return_tensors="pt").input_ids
                tensors[key + ".input_ids"] = ids.to(torch.int64).contiguous()
                tensors[key + ".last_hidden_state"] = pipe.text_encoder(ids).last_hidden_state.contiguous()
        save_file(tensors, os.path.join(a.refs, "references.safetensors"))
        with open(os.path.join(a.refs, "references.jsonl"), "w") as f:
            for m in meta:
                f.write(json.dumps(m) + "\n")
        print("wrote references to", a.refs)


if __name__ == "__main__":
    main()
