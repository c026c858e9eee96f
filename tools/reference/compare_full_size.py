"""Renders one image with diffusers from a full-size model folder (e.g. the
random SD 1.5-shaped one make_sd15_random.py writes, or the SDXL-shaped one of
make_sdxl_random.py: the pipeline class is model_index.json's) and compares it with the
PNG `farm render` wrote for the same item. Not a CI test: the folder is GBs.

  python tools/reference/compare_full_size.py MODEL_DIR FARM_PNG PROMPT NEGATIVE SEED STEPS GUIDANCE WIDTH HEIGHT SAMPLER
"""
import sys

import numpy as np
import torch
from PIL import Image
import diffusers

SCHEDULERS = {"ddim": ("DDIMScheduler", {}), "euler": ("EulerDiscreteScheduler", {}),
              "euler_a": ("EulerAncestralDiscreteScheduler", {}),
              "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
              "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True})}


def main():
    model, png, prompt, negative, seed, steps, guidance, width, height, sampler = sys.argv[1:11]
    torch.set_num_threads(2)
    import json
    import os
    cls_name = json.load(open(os.path.join(model, "model_index.json")))["_class_name"]
    extra = {} if cls_name == "StableDiffusionXLPipeline" else {"safety_checker": None}
    pipe = getattr(diffusers, cls_name).from_pretrained(model, torch_dtype=torch.float32, **extra)
    cls, over = SCHEDULERS[sampler]
    pipe.scheduler = getattr(diffusers, cls).from_config(pipe.scheduler.config, **over)
    out = pipe(prompt=[prompt], negative_prompt=[negative] if negative else None, num_inference_steps=int(steps), guidance_scale=float(guidance), width=int(width),
               height=int(height), generator=[torch.Generator("cpu").manual_seed(int(seed))], output_type="np")
    ref = out.images[0]                                   # float [H, W, 3] in [0, 1]
    ref8 = (ref * 255).round().astype(np.int32)
    got8 = np.asarray(Image.open(png).convert("RGB"), dtype=np.int32)
    diff = np.abs(ref8 - got8)
    print(f"8-bit pixels: max |diff| {diff.max()}, mean {diff.mean():.4f}, "
          f"identical {100.0 * (diff == 0).mean():.2f} %; float max |ref - farm/255| "
          f"{np.abs(ref - got8 / 255.0).max():.4f}")


if __name__ == "__main__":
    main()
