#!/usr/bin/env python3
"""Golden outputs for every op in kernels/ops.h, computed by PyTorch/diffusers.

Writes tests/data/kernels/goldens.bin (raw little-endian float32, all tensors
back to back) and tests/data/kernels/goldens.json (per case: op, parameters,
and for each tensor its element offset into the .bin and its shape, in the
NHWC / [rows, C] layouts farm's ops use). tests/kernels/kernel_cases.cpp names
the same cases; the golden test checks the shapes agree.

Run from the repo root:  /work/venv/bin/python tools/reference/make_kernel_reference.py
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import diffusers
from diffusers.models.activations import GEGLU
from diffusers.models.embeddings import get_timestep_embedding

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "kernels")

gen = torch.Generator().manual_seed(20261123)


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=gen, dtype=torch.float32) * scale + shift


def conv2d(p):
    b, h, w, ci, co, k, s, pad = (p[n] for n in ("batch", "in_h", "in_w", "in_c", "out_c", "kernel", "stride", "pad"))
    x = randn(b, h, w, ci)
    wt = randn(co, k, k, ci, scale=1.0 / math.sqrt(k * k * ci))
    t = {"x": x, "w": wt}
    bias = None
    if p["bias"]:
        bias = t["bias"] = randn(co)
    y = F.conv2d(x.permute(0, 3, 1, 2), wt.permute(0, 3, 1, 2), bias, stride=s, padding=pad).permute(0, 2, 3, 1)
    if p["residual"]:
        t["residual"] = randn(*y.shape)
        y = y + t["residual"]
    t["y"] = y
    return t


def linear(p):
    b, rows, i, o = p["batch"], p["rows"], p["in"], p["out"]
    x = randn(b * rows, i)
    wt = randn(o, i, scale=1.0 / math.sqrt(i))
    t = {"x": x, "w": wt}
    bias = None
    if p["bias"]:
        bias = t["bias"] = randn(o)
    y = F.linear(x, wt, bias)
    if p["residual"]:
        t["residual"] = randn(b * rows, o)
        y = y + t["residual"]
    t["y"] = y
    return t


def attention(p):
    b, nh, lq, lkv, d = (p[n] for n in ("batch", "heads", "q_len", "kv_len", "head_dim"))
    nkv = p.get("kv_heads", nh)
    qs, kvs = p["q_stride"], p["kv_stride"]
    amp = p.get("amplitude", 1.0)
    # Strided buffers: only the first heads*head_dim of each token row are read.
    q = randn(b, lq, qs, scale=amp)
    k = randn(b, lkv, kvs, scale=amp)
    v = randn(b, lkv, kvs)

    def heads(buf, n, count=nh):
        return buf[:, :, : count * d].reshape(b, n, count, d).transpose(1, 2)

    scale = 1.0 / math.sqrt(d) if p["scale"] == "rsqrt" else p["scale"]
    # Grouped-query attention as torch runs it (enable_gqa: k/v head h // (nh / nkv)).
    o = F.scaled_dot_product_attention(heads(q, lq), heads(k, lkv, nkv), heads(v, lkv, nkv), is_causal=p["causal"],
                                       scale=scale, enable_gqa=nkv != nh)
    return {"q": q, "k": k, "v": v, "y": o.transpose(1, 2).reshape(b, lq, nh * d)}


def group_norm(p):
    b, hw, c, g = p["batch"], p["hw"], p["channels"], p["groups"]
    x = randn(b, hw, c, scale=2.0, shift=p.get("mean", 0.0))
    gamma = randn(c, scale=0.5, shift=1.0)
    beta = randn(c, scale=0.5)
    y = F.group_norm(x.transpose(1, 2), g, gamma, beta, p["eps"]).transpose(1, 2)
    if p["silu"]:
        y = F.silu(y)
    return {"x": x, "gamma": gamma, "beta": beta, "y": y}


def layer_norm(p):
    rows, c = p["rows"], p["channels"]
    x = randn(rows, c, scale=2.0, shift=p.get("mean", 0.0))
    gamma = randn(c, scale=0.5, shift=1.0)
    beta = randn(c, scale=0.5)
    return {"x": x, "gamma": gamma, "beta": beta, "y": F.layer_norm(x, (c,), gamma, beta, p["eps"])}


def rms_norm(p):
    """transformers' Qwen3RMSNorm (fp32 statistics, weight times the normalized value)."""
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm
    rows, c = p["rows"], p["channels"]
    x = randn(rows, c, scale=2.0, shift=p.get("mean", 0.0))
    gamma = randn(c, scale=0.5, shift=1.0)
    norm = Qwen3RMSNorm(c, eps=p["eps"])
    norm.weight.data.copy_(gamma)
    return {"x": x, "gamma": gamma, "y": norm(x)}


def rope(p):
    """rotate_half: transformers' Qwen3RotaryEmbedding + apply_rotary_pos_emb at
    positions p0.. ; interleaved: diffusers' Z-Image RopeEmbedder over 3-axis ids
    and its complex multiply. table[t, i] = (cos, sin) of pair i."""
    rows, nh, d, stride = p["rows"], p["heads"], p["head_dim"], p["stride"]
    x = randn(rows, stride)
    heads = x[:, : nh * d].reshape(rows, nh, d)
    if not p["interleaved"]:
        from transformers import Qwen3Config
        from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding, apply_rotary_pos_emb
        cfg = Qwen3Config(hidden_size=nh * d, num_attention_heads=nh, num_key_value_heads=nh, head_dim=d,
                          rope_theta=p["theta"])
        pos = torch.arange(p["p0"], p["p0"] + rows)[None]
        cos, sin = Qwen3RotaryEmbedding(cfg)(x[None], pos)  # [1, rows, d]
        q = heads.transpose(0, 1)[None]  # [1, nh, rows, d]
        out, _ = apply_rotary_pos_emb(q, q, cos, sin)
        rotated = out[0].transpose(0, 1)
        table = torch.stack([cos[0, :, : d // 2], sin[0, :, : d // 2]], dim=-1)
    else:
        from diffusers.models.transformers.transformer_z_image import RopeEmbedder
        axes = p["axes_dims"]
        emb = RopeEmbedder(theta=p["theta"], axes_dims=axes, axes_lens=[64, 64, 64])
        ids = torch.stack([torch.arange(rows) + 1, torch.arange(rows) % 5, torch.arange(rows) // 5], dim=-1)
        freqs_cis = emb(ids)  # [rows, d/2] complex64
        xc = torch.view_as_complex(heads.float().reshape(rows, nh, -1, 2))
        rotated = torch.view_as_real(xc * freqs_cis.unsqueeze(1)).flatten(2)
        table = torch.view_as_real(freqs_cis)
    y = x.clone()
    y[:, : nh * d] = rotated.reshape(rows, nh * d)
    return {"table": table.contiguous(), "x": x, "y": y}


def swiglu(p):
    """The SwiGLU of Qwen3's MLP and Z-Image's FFN: act(gate) * up, act = ACT2FN["silu"]."""
    from transformers.activations import ACT2FN
    rows, inner = p["rows"], p["inner"]
    x = randn(rows, 2 * inner, scale=2.0)
    return {"x": x, "y": ACT2FN["silu"](x[:, :inner]) * x[:, inner:]}


def modulate(p):
    """Z-Image's adaLN scale (no shift): x * (1 + scale) broadcast over each sample's rows,
    as ZImageTransformerBlock forms scale_msa = 1.0 + s and multiplies."""
    b, rows, c = p["batch"], p["rows"], p["channels"]
    x, s = randn(b, rows, c, scale=2.0), randn(b, c)
    return {"x": x, "scale": s, "y": x * (1.0 + s).unsqueeze(1)}


def gated_residual(p):
    """h + tanh(gate) * x (x: the branch's output, h: the residual stream), as
    ZImageTransformerBlock's gated residuals."""
    b, rows, c = p["batch"], p["rows"], p["channels"]
    g, x, h = randn(b, c, scale=2.0), randn(b, rows, c), randn(b, rows, c)
    return {"gate": g, "x": x, "h": h, "y": h + g.tanh().unsqueeze(1) * x}


def pointwise(fn):
    def make(p):
        x = torch.linspace(-8.0, 8.0, p["n"], dtype=torch.float32) + randn(p["n"], scale=0.01)
        return {"x": x, "y": fn(x)}
    return make


def add(p):
    a, b = randn(p["n"]), randn(p["n"])
    return {"a": a, "b": b, "y": a + b}


def geglu(p):
    rows, inner = p["rows"], p["inner"]
    x = randn(rows, 2 * inner, scale=2.0)
    module = GEGLU(2 * inner, inner)
    module.proj = torch.nn.Identity()  # the op takes the projection's output
    with torch.no_grad():
        y = module(x)
    return {"x": x, "y": y}


def upsample_nearest2x(p):
    b, h, w, c = p["batch"], p["h"], p["w"], p["c"]
    x = randn(b, h, w, c)
    y = F.interpolate(x.permute(0, 3, 1, 2), scale_factor=2.0, mode="nearest").permute(0, 2, 3, 1)
    return {"x": x, "y": y}


def concat_channels(p):
    b, hw, ca, cb = p["batch"], p["hw"], p["ca"], p["cb"]
    a, bb = randn(b, hw, ca), randn(b, hw, cb)
    return {"a": a, "b": bb, "y": torch.cat([a, bb], dim=-1)}


def timestep_embedding(p):
    t = torch.tensor(p["timesteps"], dtype=torch.float32)
    y = get_timestep_embedding(t, p["dim"], flip_sin_to_cos=p["flip_sin_to_cos"],
                               downscale_freq_shift=p["shift"], max_period=p["max_period"])
    return {"t": t, "y": y}


MAKERS = {
    "conv2d": conv2d, "linear": linear, "attention": attention, "group_norm": group_norm,
    "layer_norm": layer_norm, "silu": pointwise(F.silu), "gelu": pointwise(lambda x: F.gelu(x)),
    "quick_gelu": pointwise(lambda x: x * torch.sigmoid(1.702 * x)), "add": add, "geglu": geglu,
    "upsample_nearest2x": upsample_nearest2x, "concat_channels": concat_channels,
    "timestep_embedding": timestep_embedding, "rms_norm": rms_norm, "rope": rope, "swiglu": swiglu,
    "modulate": modulate, "gated_residual": gated_residual,
}


def conv(name, b, h, w, ci, co, k, s, pad, bias=True, residual=False):
    return dict(name=name, op="conv2d", batch=b, in_h=h, in_w=w, in_c=ci, out_c=co, kernel=k,
                stride=s, pad=pad, bias=bias, residual=residual)


def attn(name, b, nh, lq, lkv, d, q_stride=None, kv_stride=None, causal=False, scale="rsqrt", amplitude=1.0):
    return dict(name=name, op="attention", batch=b, heads=nh, q_len=lq, kv_len=lkv, head_dim=d,
                q_stride=q_stride or nh * d, kv_stride=kv_stride or nh * d, causal=causal, scale=scale,
                amplitude=amplitude)


# Keep in step with tests/kernels/kernel_cases.cpp (same names and shapes).
CASES = [
    conv("conv_k3_s1_odd", 2, 7, 5, 3, 5, 3, 1, 1, residual=True),
    conv("conv_k3_s2_down", 1, 9, 8, 6, 7, 3, 2, 1),
    conv("conv_k3_p0_nobias", 1, 6, 5, 4, 2, 3, 1, 0, bias=False),
    conv("conv_k3_c32", 1, 16, 16, 32, 24, 3, 1, 1, residual=True),
    conv("conv_k1_s1", 2, 5, 3, 9, 11, 1, 1, 0),
    conv("conv_k1_s2", 1, 7, 7, 4, 3, 1, 2, 0),
    dict(name="linear_bias_residual", op="linear", batch=2, rows=3, out=13, bias=True, residual=True, **{"in": 17}),
    dict(name="linear_nobias", op="linear", batch=1, rows=5, out=40, bias=False, residual=False, **{"in": 64}),
    dict(name="linear_320", op="linear", batch=2, rows=7, out=96, bias=True, residual=False, **{"in": 320}),
    attn("attn_self_d40", 2, 2, 33, 33, 40),
    attn("attn_cross_d40_kv77", 2, 2, 20, 77, 40, kv_stride=2 * 40 + 8),
    attn("attn_cross_d64_kv77", 1, 3, 50, 77, 64),
    attn("attn_causal_d64_fused", 1, 2, 77, 77, 64, q_stride=3 * 2 * 64, kv_stride=3 * 2 * 64, causal=True),
    attn("attn_large_logits", 1, 2, 16, 24, 40, scale=1.0, amplitude=6.0),
    dict(name="group_norm_c64", op="group_norm", batch=2, hw=16, channels=64, groups=32, eps=1e-5, silu=False),
    dict(name="group_norm_silu_c96", op="group_norm", batch=2, hw=15, channels=96, groups=32, eps=1e-6, silu=True),
    dict(name="group_norm_silu_offset", op="group_norm", batch=1, hw=64, channels=128, groups=32, eps=1e-6,
         silu=True, mean=3.0),
    dict(name="layer_norm_c40", op="layer_norm", rows=14, channels=40, eps=1e-5),
    dict(name="layer_norm_c320_offset", op="layer_norm", rows=5, channels=320, eps=1e-5, mean=3.0),
    dict(name="silu", op="silu", n=1001),
    dict(name="gelu", op="gelu", n=1001),
    dict(name="quick_gelu", op="quick_gelu", n=1001),
    dict(name="add", op="add", n=1001),
    dict(name="geglu", op="geglu", rows=6, inner=40),
    dict(name="upsample_nearest2x", op="upsample_nearest2x", batch=2, h=3, w=5, c=4),
    dict(name="concat_channels", op="concat_channels", batch=2, hw=6, ca=3, cb=5),
    dict(name="timestep_sd15", op="timestep_embedding", timesteps=[0.0, 1.0, 500.5, 999.0], dim=320,
         flip_sin_to_cos=True, shift=0.0, max_period=10000.0),
    dict(name="timestep_noflip_shift1", op="timestep_embedding", timesteps=[0.0, 3.0, 250.0, 981.0], dim=320,
         flip_sin_to_cos=False, shift=1.0, max_period=10000.0),
    dict(name="timestep_odd_dim", op="timestep_embedding", timesteps=[7.0, 42.0, 999.0], dim=31,
         flip_sin_to_cos=True, shift=1.0, max_period=10000.0),
    # Qwen3 / Z-Image ops, appended so the cases above keep their random draws.
    dict(name="rms_norm_c40", op="rms_norm", rows=14, channels=40, eps=1e-6),
    dict(name="rms_norm_qk_d128_offset", op="rms_norm", rows=24, channels=128, eps=1e-5, mean=3.0),
    dict(name="rope_half_qwen3", op="rope", rows=9, heads=3, head_dim=16, stride=48, interleaved=False,
         theta=1e6, p0=0),
    dict(name="rope_half_strided", op="rope", rows=7, heads=2, head_dim=8, stride=19, interleaved=False,
         theta=10000.0, p0=500),
    dict(name="rope_interleaved_zimage", op="rope", rows=10, heads=2, head_dim=32, stride=64, interleaved=True,
         theta=256.0, axes_dims=[8, 12, 12]),
    dict(name="swiglu", op="swiglu", rows=6, inner=40),
    attn("attn_gqa_causal_d32", 1, 4, 37, 37, 32, kv_stride=2 * 32, causal=True) | {"kv_heads": 2},
    attn("attn_gqa_cross_d16", 2, 6, 20, 33, 16, kv_stride=2 * 16) | {"kv_heads": 2},
    dict(name="modulate", op="modulate", batch=2, rows=7, channels=24),
    dict(name="gated_residual", op="gated_residual", batch=2, rows=5, channels=40),
]


def main():
    torch.set_num_threads(1)
    blob, index, offset = [], [], 0
    for case in CASES:
        params = {k: v for k, v in case.items() if k not in ("name", "op")}
        with torch.no_grad():
            tensors = MAKERS[case["op"]](params)
        entry = {"name": case["name"], "op": case["op"], "params": params, "tensors": {}}
        for tname, tensor in tensors.items():
            arr = tensor.detach().contiguous().numpy().astype("<f4")
            entry["tensors"][tname] = {"offset": offset, "shape": list(arr.shape)}
            blob.append(arr.ravel())
            offset += arr.size
        index.append(entry)
    os.makedirs(OUT_DIR, exist_ok=True)
    data = np.concatenate(blob)
    data.tofile(os.path.join(OUT_DIR, "goldens.bin"))
    meta = {"format": "farm kernel goldens v1", "bin": "goldens.bin", "dtype": "float32 little-endian",
            "made_by": "tools/reference/make_kernel_reference.py",
            "torch": torch.__version__, "diffusers": diffusers.__version__, "cases": index}
    # One case per line keeps the index readable and its diffs small.
    head = json.dumps({k: v for k, v in meta.items() if k != "cases"})[:-1]
    with open(os.path.join(OUT_DIR, "goldens.json"), "w") as f:
        f.write(head + ', "cases": [\n' + ",\n".join(json.dumps(e) for e in index) + "\n]}\n")
    print(f"{len(index)} cases, {data.size} floats ({data.nbytes / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
