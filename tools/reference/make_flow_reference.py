#!/usr/bin/env python3
"""Reference flow-matching Euler schedules and trajectories from diffusers, for tests/sched
(farm/sched/flow_euler.h): FlowMatchEulerDiscreteScheduler as ZImagePipeline drives it —
sigmas = torch.linspace(1.0, 1/n, n).tolist() passed to set_timesteps, with a static shift
(use_dynamic_shifting false) or the dynamic one (mu = calculate_shift(image_seq_len), exponential
or linear time shift). For each case: the scheduler's sigmas and timesteps (float32, exact), and the
latent after every step of a synthetic model out[i] = float32(0.7 * x[i] * cos(0.002 * t) - 0.2 *
sin(0.31 * i + 0.003 * t)) (double arithmetic via Python's math, t the timestep as a float) from a
seeded torch.randn latent [1, 16, 4, 4].

Writes tests/data/sched/flow_reference.json.
Run: /work/venv/bin/python tools/reference/make_flow_reference.py
"""
import json
import math
import os

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.z_image.pipeline_z_image import calculate_shift

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "sched")

CASES = [  # name, steps, config overrides, image_seq_len (dynamic only)
    ("static_shift3_8", 8, dict(shift=3.0), None),
    ("static_shift3_1", 1, dict(shift=3.0), None),
    ("static_shift1_5", 5, dict(shift=1.0), None),
    ("static_shift2_5_13", 13, dict(shift=2.5), None),
    ("dynamic_exp_4096_8", 8, dict(use_dynamic_shifting=True), 4096),
    ("dynamic_exp_1000_7", 7, dict(use_dynamic_shifting=True, base_shift=0.4, max_shift=1.2), 1000),
    ("dynamic_linear_256_6", 6, dict(use_dynamic_shifting=True, time_shift_type="linear"), 256),
]


def model(x, t):
    flat = x.reshape(-1).tolist()
    out = [0.7 * v * math.cos(0.002 * t) - 0.2 * math.sin(0.31 * i + 0.003 * t) for i, v in enumerate(flat)]
    return torch.tensor(out, dtype=torch.float32).reshape(x.shape)


def main():
    cases = []
    for name, n, overrides, seq_len in CASES:
        cfg = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, base_shift=0.5,
                   max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
                   time_shift_type="exponential")
        cfg.update(overrides)
        sched = FlowMatchEulerDiscreteScheduler(**cfg)
        sigmas = torch.linspace(1.0, 1 / n, n).tolist()
        mu = None
        if cfg["use_dynamic_shifting"]:
            mu = calculate_shift(seq_len, cfg["base_image_seq_len"], cfg["max_image_seq_len"], cfg["base_shift"],
                                 cfg["max_shift"])
        sched.set_timesteps(sigmas=sigmas, mu=mu)
        x = torch.randn((1, 16, 4, 4), generator=torch.Generator().manual_seed(7 + n), dtype=torch.float32)
        x0 = x.reshape(-1).tolist()
        steps = []
        for t in sched.timesteps:
            x = sched.step(model(x, float(t)), t, x).prev_sample
            steps.append(x.reshape(-1).tolist())
        cases.append(dict(name=name, steps=n, config=cfg, image_seq_len=seq_len, mu=mu,
                          sigmas=[float(s) for s in sched.sigmas], timesteps=[float(t) for t in sched.timesteps],
                          x0=x0, x=steps))
    with open(os.path.join(OUT, "flow_reference.json"), "w") as f:
        json.dump({"how": __doc__, "cases": cases}, f)
        f.write("\n")
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
