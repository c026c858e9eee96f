#!/usr/bin/env python3
"""farm against PyTorch + diffusers on the same model folder, side by side.

Tooling, not CI (needs torch and diffusers; see tools/reference/README.md for
the virtual environment). For each of `--rounds` rounds it runs `farm bench`
(one timed run per part after a warm-up) and then the same parts in diffusers
(same folder, image size, thread count and dtype: fp32, or bf16 as
torch.autocast("cpu", torch.bfloat16) computes it), each in its own process so
peak RSS is per engine. Prints min and median over the rounds for each row and
the farm/PyTorch ratio of the minima (below 1: farm is faster).

  python benchmarks/vs_torch.py MODEL_DIR --dtype bf16 [--farm build/bin/farm]
         [--size 512] [--batches 1,2,8] [--rounds 3] [--threads 2] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TORCH_PART = r'''
import json, resource, sys, time
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel
model, dtype, size, batches, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    [int(b) for b in sys.argv[4].split(",")], int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(1234)
t0 = time.perf_counter()
unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", torch_dtype=torch.float32).eval()
vae = AutoencoderKL.from_pretrained(model, subfolder="vae", torch_dtype=torch.float32).eval()
text = CLIPTextModel.from_pretrained(model, subfolder="text_encoder", torch_dtype=torch.float32).eval()
out = {"load_s": time.perf_counter() - t0}
scale = 2 ** (len(vae.config.block_out_channels) - 1)
lat = size // scale

def timed(fn):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        fn()  # warm-up
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e3

ids = torch.randint(0, text.config.vocab_size, (2, text.config.max_position_embeddings))
out["text_encoder"] = timed(lambda: text(ids))
out["unet"] = {}
for b in batches:
    x = torch.randn(b, unet.config.in_channels, lat, lat)
    ctx = torch.randn(b, 77, unet.config.cross_attention_dim)
    t = torch.full((b,), 500.0)
    out["unet"][str(b)] = timed(lambda: unet(x, t, encoder_hidden_states=ctx).sample)
z = torch.randn(1, vae.config.latent_channels, lat, lat)
out["vae_decode"] = timed(lambda: vae.decode(z).sample)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
print(json.dumps(out))
'''


def farm_round(a):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        subprocess.run([a.farm, "bench", "--model", a.model, "--dtype", a.dtype if a.dtype == "bf16" else "f32",
                        "--size", str(a.size), "--batches", a.batches, "--repeats", "1", "--json", f.name],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        j = json.load(open(f.name))
    row = {"text_encoder": j["text_encoder"]["min_ms"], "vae_decode": j["vae_decode"]["min_ms"],
           "peak_rss_mb": j["peak_rss_mb"], "backend": j["backend"]}
    for u in j["unet"]:
        row[f"unet_b{u['batch']}"] = u["min_ms"]
    return row


def torch_round(a):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    r = subprocess.run([sys.executable, "-c", TORCH_PART, a.model, a.dtype, str(a.size), a.batches, str(a.threads)],
                       check=True, env=env, capture_output=True, text=True)
    j = json.loads(r.stdout.strip().splitlines()[-1])
    row = {"text_encoder": j["text_encoder"], "vae_decode": j["vae_decode"], "peak_rss_mb": j["peak_rss_mb"]}
    for b, ms in j["unet"].items():
        row[f"unet_b{b}"] = ms
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--farm", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "farm"))
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="bf16")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batches", default="1,2,8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args()
    rounds = {"farm": [], "torch": []}
    for r in range(a.rounds):  # alternated, so drift on a shared machine hits both
        t = time.time()
        rounds["farm"].append(farm_round(a))
        rounds["torch"].append(torch_round(a))
        print(f"round {r + 1}/{a.rounds}: {time.time() - t:.0f} s", file=sys.stderr)
    keys = [k for k in rounds["farm"][0] if k not in ("backend",)]
    print(f"{a.model} {a.size}x{a.size}, {a.dtype}, {a.threads} threads, {a.rounds} rounds "
          f"(farm on {rounds['farm'][0]['backend']}); ms unless noted, min / median")
    print(f"{'':16s} {'farm':>21s} {'pytorch':>21s} {'farm/pytorch':>13s}")
    summary = {}
    for k in keys:
        f = [r[k] for r in rounds["farm"]]
        t = [r[k] for r in rounds["torch"]]
        ratio = min(f) / min(t)
        summary[k] = {"farm_min": min(f), "farm_median": statistics.median(f), "torch_min": min(t),
                      "torch_median": statistics.median(t), "ratio": ratio}
        print(f"{k:16s} {min(f):10.1f} {statistics.median(f):10.1f} {min(t):10.1f} {statistics.median(t):10.1f}"
              f" {ratio:13.2f}")
    if a.json:
        json.dump({"rounds": rounds, "summary": summary, "args": vars(a)}, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
