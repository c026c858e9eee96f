#!/usr/bin/env python3
"""The figures of tools/gpu/check.sh from its files in OUT. Prints them and
writes OUT/gpu_check.json.

  plan.txt                 `farm plan` output, for the UNet GFLOP per image-step
  batch1.json, batch8.json `farm render --stats` with FARM_PROFILE_OPS=1
  nccl_pairs.json          benchmarks/nccl_pairs --json (optional): pair GB/s matrix
  layouts.txt              `farm plan` for the local GPU count (optional): the device profile's link GB/s
  layouts/PxS/status       one line per P x S layout: ok, failed, timed out or skipped
  layouts/PxS/report.json  benchmarks/throughput_report --json: measured vs simulated

Usage: report.py OUT "GPU NAME" DTYPE
"""
import glob
import json
import os
import re
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def renders(out, gpu, report):
    # Dense fp16/bf16 tensor-core peaks (NVIDIA datasheets, SXM parts, no sparsity).
    peaks = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "L40S": 362e12, "A10": 125e12}
    peak = next((v for k, v in peaks.items() if k in gpu), None)
    with open(f"{out}/plan.txt") as f:
        m = re.search(r"per micro-batch: UNet ([0-9.e+-]+) GFLOP/step", f.read())
    flops_per_image_step = float(m.group(1)) * 1e9  # one image with CFG (2 UNet rows)
    for name, batch in (("batch1", 1), ("batch8", 8)):
        s = load(f"{out}/{name}.json")
        r = s["ranks"][0]
        it_s = r["unet_passes"] / r["unet_s"]  # UNet passes (CFG steps of a micro-batch) per second
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


def profile_link_gbps(out):
    """The plans' device profile: its name and modelled link GB/s (from the `farm plan` header)."""
    try:
        with open(f"{out}/layouts.txt") as f:
            m = re.search(r"^device +(\S+): .*link ([0-9.]+) GB/s", f.read(), re.M)
    except OSError:
        return None, None
    return (m.group(1), float(m.group(2))) if m else (None, None)


def mib(b):
    return f"{b / 2**20:.0f} MiB" if b % 2**20 == 0 else f"{b / 1e6:.3f} MB"


def nccl_pairs(out, report):
    path = f"{out}/nccl_pairs.json"
    if not os.path.exists(path):
        print("\nNCCL pairs: not run (see nccl_pairs.txt)")
        report["nccl_pairs"] = {"skipped": "not run"}
        return
    p = load(path)
    if p.get("skipped"):
        print(f"\nNCCL pairs: skipped ({p['skipped']})")
        report["nccl_pairs"] = {"skipped": p["skipped"]}
        return
    n, res = len(p["devices"]), p["results"]
    profile, link = profile_link_gbps(out)
    sizes = sorted({r["bytes"] for r in res})
    big = sizes[-1]
    matrix = [[None] * n for _ in range(n)]
    for r in res:
        if r["bytes"] == big:
            matrix[r["src"]][r["dst"]] = r["busbw_gbps"]
    wrong = sum(r["wrong"] or 0 for r in res)
    print(f"\nNCCL send/recv between {n} GPUs on {p['host']}: busbw GB/s at {mib(big)} (row: sender, column: receiver)"
          + (f"; the {profile} profile models {link:.0f} GB/s" if link else ""))
    print("      " + "".join(f"{d:>8}" for d in range(n)))
    for s in range(n):
        print(f"  {s:>3} " + "".join(f"{'-':>8}" if v is None else f"{v:8.1f}" for v in matrix[s]))
    print(f"  {'size':>12} {'pairs':>5} {'min GB/s':>9} {'median':>8} {'max':>8} {'median us':>10}"
          + (f" {'median / profile':>17}" if link else ""))
    per_size = []
    for b in sizes:
        rows = [r for r in res if r["bytes"] == b]
        bw = [r["busbw_gbps"] for r in rows]
        med = statistics.median(bw)
        per_size.append({"bytes": b, "pairs": len(rows), "min_gbps": min(bw), "median_gbps": med, "max_gbps": max(bw),
                         "median_time_us": statistics.median(r["time_us"] for r in rows),
                         "median_over_profile": med / link if link else None})
        x = per_size[-1]
        print(f"  {mib(b):>12} {x['pairs']:>5} {x['min_gbps']:9.1f} {med:8.1f} {x['max_gbps']:8.1f}"
              f" {x['median_time_us']:10.1f}" + (f" {100 * med / link:16.1f}%" if link else ""))
    print(f"  bytes received unlike the sender's pattern: {wrong}")
    report["nccl_pairs"] = {"host": p["host"], "devices": p["devices"], "matrix_bytes": big, "busbw_gbps": matrix,
                            "per_size": per_size, "wrong_bytes": wrong, "profile": profile,
                            "profile_link_gbps": link, "skipped": None}


def pct(a, b):
    return f"{100 * (a / b - 1):+6.1f}%" if b else "    n/a"


def layouts(out, report):
    dirs = glob.glob(f"{out}/layouts/*x*/")
    if not dirs:
        return
    key = lambda d: tuple(int(v) for v in os.path.basename(d.rstrip("/")).split("x"))[::-1]  # by stages
    print("\nP x S on the local GPUs: images/s measured vs `farm plan` and the simulator (plan's costs; this run's"
          " stage times), steady-state bubble, state MB sent per micro-batch step (measured / plan, per stage)")
    print(f"  {'P x S':<6} {'measured':>9} {'plan':>8} {'(diff)':>8} {'sim run':>8} {'(diff)':>8}"
          f" {'bubble meas / plan / sim run':>29}  MB/step meas/plan")
    rows = []
    for d in sorted(dirs, key=key):
        s, p = key(d)
        with open(f"{d}/status") as f:
            status = f.read().strip()
        row = {"pipelines": p, "stages": s, "status": status}
        rows.append(row)
        label = f"{p}x{s}"
        if not os.path.exists(f"{d}/report.json"):
            print(f"  {label:<6} {status}")
            continue
        r = load(f"{d}/report.json")
        meas, plan, run = r["measured"], r["plan"], r["sim_run"]
        row.update({k: r[k] for k in ("images", "render_s", "micro_batches", "measured", "plan", "sim_plan", "sim_run")})
        if meas.get("tensor_bytes_sent") and None not in meas["tensor_bytes_sent"]:
            # Tensor payload over the whole job, per stage, against the plan's count (equal to the byte).
            sent = "job MB " + " ".join(f"{a / 1e6:.3f}/{b / 1e6:.3f}" for a, b in
                                        zip(meas["tensor_bytes_sent"], plan["tensor_bytes_sent"]))
            sent += f" {meas.get('tensor_bytes_vs_plan', '')}"
        else:  # a report from before the byte count: message bytes per step
            sent = " ".join(f"{a / 1e6:.3f}/{b / 1e6:.3f}" for a, b in
                            zip(meas["state_bytes_per_step"], plan["send_bytes_per_step"]))
        print(f"  {label:<6} {meas['images_per_s']:9.3f} {plan['images_per_s']:8.3f} {pct(meas['images_per_s'], plan['images_per_s']):>8}"
              f" {run['images_per_s']:8.3f} {pct(meas['images_per_s'], run['images_per_s']):>8}"
              f" {100 * meas['bubble']:9.1f}% / {100 * plan['bubble']:5.1f}% / {100 * run['bubble']:5.1f}%  {sent}")
    report["layouts"] = rows


def main():
    out, gpu, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
    report = {"device": gpu, "dtype": dtype, "runs": {}}
    renders(out, gpu, report)
    nccl_pairs(out, report)
    layouts(out, report)
    with open(f"{out}/gpu_check.json", "w") as f:
        json.dump(report, f, indent=1)
    print(f"written: {out}/gpu_check.json")


if __name__ == "__main__":
    main()
