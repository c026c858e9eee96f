#!/usr/bin/env python3
"""Writes a wider copy of a small diffusers folder with random fp16 weights, standard library only.

Every width of the source (UNet block_out_channels and cross_attention_dim, the text encoder's
hidden, intermediate and projection sizes, the VAE's block_out_channels) is multiplied by K, and
so is every tensor dimension that is one of them; kernel sizes (1, 3), RGB (3), latent channels (4,
8 for the VAE encoder's mean and log-variance), token positions (77) and the vocabulary (49408)
stay. Keys, dtypes and file layout are the source's, so farm loads it like the source. The values
are random fp16 of magnitude 1/128 to 1/8: images are noise. For load-time measurements
(benchmarks/weights_load.sh) where no torch is at hand; make_sd15_random.py --mid makes a
true SD 1.5-shaped folder with torch and diffusers.

Usage:  python3 tools/reference/widen_model.py models/tiny-shapes /tmp/wide-shapes 12
"""
import json
import os
import shutil
import struct
import sys

KEEP = {1, 3, 4, 8, 77, 49408}


def widen_configs(out, k):
    def edit(path, fields):
        with open(path) as f:
            c = json.load(f)
        for name in fields:
            v = c[name]
            c[name] = [x * k for x in v] if isinstance(v, list) else v * k
        with open(path, "w") as f:
            json.dump(c, f, indent=2)

    edit(os.path.join(out, "unet", "config.json"), ["block_out_channels", "cross_attention_dim"])
    edit(os.path.join(out, "text_encoder", "config.json"), ["hidden_size", "intermediate_size", "projection_dim"])
    edit(os.path.join(out, "vae", "config.json"), ["block_out_channels"])


# Little-endian fp16: low byte random, high byte sign | exponent 8..11 | 2 mantissa bits.
HIGH = bytes((b & 0x80) | ((0b01000 | ((b >> 2) & 3)) << 2) | (b & 3) for b in range(256))


def random_f16(n_bytes):
    buf = bytearray(n_bytes)
    buf[0::2] = os.urandom(n_bytes // 2)
    buf[1::2] = os.urandom(n_bytes // 2).translate(HIGH)
    return buf


def widen_file(src, dst, k):
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    out, offset = {}, 0
    entries = sorted(((v["data_offsets"][0], name, v) for name, v in header.items() if name != "__metadata__"))
    for _, name, v in entries:
        if v["dtype"] != "F16":
            sys.exit(f"{src}: {name} is {v['dtype']}; only F16 folders are widened")
        shape = [d if d in KEEP else d * k for d in v["shape"]]
        size = 2
        for d in shape:
            size *= d
        out[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if "__metadata__" in header:
        out["__metadata__"] = header["__metadata__"]
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data buffer 8-aligned, as safetensors writers do
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, v in sorted(out.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
            if name != "__metadata__":
                f.write(random_f16(v["data_offsets"][1] - v["data_offsets"][0]))
    return offset


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors"))
    widen_configs(out, k)
    total = 0
    for root, _, files in os.walk(src):
        for name in files:
            if name.endswith(".safetensors"):
                rel = os.path.relpath(os.path.join(root, name), src)
                total += widen_file(os.path.join(src, rel), os.path.join(out, rel), k)
    print(f"{out}: widths x{k}, {total / 1e6:.0f} MB of fp16 weights")


if __name__ == "__main__":
    main()
