#!/usr/bin/env python3
"""Reference noise from torch's CPU generator for tests/rng.

torch.randn's float32 bits depend on the CPU capability ATen dispatches to
(AVX2 and AVX512 share one Box-Muller kernel, 'default' uses libm), so this
script re-runs itself under ATEN_CPU_CAPABILITY=avx2 and =default and writes
  tests/data/noise/noise_{avx2,default}.safetensors   F32 tensors
  tests/data/noise/noise_index.json                   cases: seed, draws (shape, tensor name)
Run: /work/venv/bin/python tools/reference/make_noise_reference.py
"""
import json
import os
import subprocess
import sys

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "noise")

# (seed, [shape of each consecutive draw from one generator])
CASES = [
    (0, [[1]]), (42, [[3]]), (7, [[15]]), (42, [[16]]), (42, [[17]]), (123, [[31]]),
    (2**32 + 5, [[100]]), (2**63 - 1, [[33]]), (0xFFFFFFFF, [[48]]),
    (0, [[1, 4, 8, 8]]), (42, [[1, 4, 8, 8]]), (2**32 + 5, [[1, 4, 8, 8]]), (2**63 - 1, [[1, 4, 8, 8]]),
    (42, [[1, 4, 64, 64]]),
    # consecutive draws continue the stream (Euler a draws noise every step)
    (42, [[1, 4, 8, 8], [1, 4, 8, 8], [1, 4, 8, 8]]),
    # the n < 16 path caches the second Box-Muller value across calls
    (5, [[3], [3], [3]]),
    (9, [[3], [20], [1], [2, 3, 5]]),
    (2024, [[1, 4, 12, 8], [7]]),
]


def name(seed, shape, k):
    return f"seed{seed}_shape{'x'.join(map(str, shape))}_draw{k}"


def generate(path):
    import torch
    from safetensors.torch import save_file
    tensors = {}
    for seed, draws in CASES:
        g = torch.Generator("cpu").manual_seed(seed)
        for k, shape in enumerate(draws):
            tensors[name(seed, shape, k)] = torch.randn(shape, generator=g, dtype=torch.float32).contiguous()
    # seed 2**32 + 5 must equal seed 5 (torch keeps the low 32 bits): check, don't assume
    a = torch.randn(64, generator=torch.Generator("cpu").manual_seed(2**32 + 5))
    b = torch.randn(64, generator=torch.Generator("cpu").manual_seed(5))
    assert torch.equal(a, b)
    save_file(tensors, path, metadata={"torch": torch.__version__,
                                       "cpu_capability": torch.backends.cpu.get_cpu_capability()})
    print(path, torch.backends.cpu.get_cpu_capability(), len(tensors), "tensors")


def main():
    if len(sys.argv) == 2:
        generate(sys.argv[1])
        return
    os.makedirs(OUT, exist_ok=True)
    for cap in ("avx2", "default"):
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
        subprocess.run([sys.executable, __file__, os.path.join(OUT, f"noise_{cap}.safetensors")], env=env, check=True)
    index = [{"seed": seed, "draws": [{"shape": shape, "tensor": name(seed, shape, k)}
                                      for k, shape in enumerate(draws)]} for seed, draws in CASES]
    with open(os.path.join(OUT, "noise_index.json"), "w") as f:
        json.dump({"kernels": {"avx2": "noise_avx2.safetensors", "default": "noise_default.safetensors"},
                   "cases": index}, f, indent=1)


if __name__ == "__main__":
    main()
