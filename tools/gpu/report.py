#!/usr/bin/env python3
"""The figures of tools/gpu/check.sh from its files in OUT: plan.txt (`farm plan`
output, for the UNet GFLOP per image-step), batch1.json and batch8.json (`farm
render --stats` with FARM_PROFILE_OPS=1). Prints them and writes OUT/gpu_check.json.

Usage: report.py OUT "GPU NAME" DTYPE
"""
import json
import re
import sys

out, gpu, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
# Dense fp16/bf16 tensor-core peaks (NVIDIA datasheets, SXM parts, no sparsity).
peaks = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "L40S": 362e12, "A10": 125e12}
peak = next((v for k, v in peaks.items() if k in gpu), None)
m = re.search(r"per micro-batch: UNet ([0-9.]+) GFLOP/step", open(f"{out}/plan.txt").read())
flops_per_image_step = float(m.group(1)) * 1e9  # one image with CFG (2 UNet rows)
report = {"device": gpu, "dtype": dtype, "runs": {}}
for name, batch in (("batch1", 1), ("batch8", 8)):
    s = json.load(open(f"{out}/{name}.json"))
    r = s["ranks"][0]
    it_s = r["unet_passes"] / r["unet_s"]            # UNet passes (CFG steps of a micro-batch) per second
    flops = flops_per_image_step * batch * it_s
    dev = r["device"]
    ops = sorted(dev["op_ms"].items(), key=lambda kv: -kv[1]["ms"])
    total_ms = sum(v["ms"] for _, v in ops) or 1.0
    report["runs"][name] = {
        "images": s["images"], "render_s": s["render_s"], "images_per_s": s["images"] / s["render_s"],
        "it_per_s": it_s, "tflops": flops / 1e12, "share_of_tensor_peak": flops / peak if peak else None,
        "peak_device_bytes": dev["peak_bytes"], "reserved_device_bytes": dev["reserved_bytes"],
        "per_step": dev["per_step"], "top_ops": [
            {"op": k, "ms": v["ms"], "calls": v["calls"], "share": v["ms"] / total_ms} for k, v in ops[:10]]}
    x = report["runs"][name]
    print(f"{name}: {x['it_per_s']:.2f} it/s, {x['images_per_s']:.3f} images/s, {x['tflops']:.1f} TFLOP/s"
          + (f" = {100 * x['share_of_tensor_peak']:.1f} % of the {peak / 1e12:.0f} TFLOP/s fp16 tensor peak" if peak else "")
          + f", peak device memory {x['peak_device_bytes'] / 2**30:.2f} GiB")
    for o in x["top_ops"]:
        print(f"    {o['op']:<34} {o['ms']:10.1f} ms {100 * o['share']:5.1f} %  ({o['calls']} calls)")
json.dump(report, open(f"{out}/gpu_check.json", "w"), indent=1)
print(f"written: {out}/gpu_check.json")
