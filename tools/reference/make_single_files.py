#!/usr/bin/env python3
"""Writes the tiny diffusers folders as original-layout single-file checkpoints (the LDM / SGM
key names of the .safetensors files users download), for farm's single-file loader tests:

    tests/data/single-file/tiny-sd1.safetensors   model.diffusion_model.* / first_stage_model.* /
                                                  cond_stage_model.transformer.text_model.*
    tests/data/single-file/tiny-sd2.safetensors   ... / cond_stage_model.model.* (OpenCLIP: fused
                                                  in_proj, text_projection transposed)
    tests/data/single-file/tiny-sdxl.safetensors  ... / conditioner.embedders.0.transformer.* (CLIP-L)
                                                  + conditioner.embedders.1.model.* (OpenCLIP bigG)
    tests/data/single-file/tiny-sdxl-refiner.safetensors  ... / conditioner.embedders.0.model.*
                                                  (the refiner's OpenCLIP bigG, its only encoder)

The inverse map is written here; it is checked by converting each file back with diffusers' own
single-file converters (diffusers.loaders.single_file_utils: convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) and
asserting every tensor equals the folder's, bit for bit, and no key is left over. Tensors keep
their stored dtypes. Only the VAE decoder is written (farm renders; it never encodes).

Usage:  python tools/reference/make_single_files.py
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")


def part(folder, name):
    d = os.path.join(folder, name)
    sd = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            sd.update(load_file(os.path.join(d, fn)))
    return sd, json.load(open(os.path.join(d, "config.json")))


def resnet_to_ldm(k):
    return (k.replace("norm1", "in_layers.0").replace("conv1", "in_layers.2").replace("norm2", "out_layers.0")
            .replace("conv2", "out_layers.3").replace("time_emb_proj", "emb_layers.1")
            .replace("conv_shortcut", "skip_connection"))


def unet_to_ldm(sd, cfg):
    n = len(cfg["block_out_channels"])
    lpb = cfg["layers_per_block"]
    assert isinstance(lpb, int), "diffusers' converter takes one layers_per_block"
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    out = {}
    for k, v in sd.items():
        head, leaf = k.rsplit(".", 1)
        p = k.split(".")
        if head in fixed:
            nk = fixed[head] + "." + leaf
        elif p[0] == "down_blocks":
            i, kind, j, rest = int(p[1]), p[2], int(p[3]), ".".join(p[4:])
            if kind == "downsamplers":
                nk = f"input_blocks.{(i + 1) * (lpb + 1)}.0.op.{p[-1]}"
            else:
                idx = 1 + i * (lpb + 1) + j
                nk = f"input_blocks.{idx}.0.{resnet_to_ldm(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
        elif p[0] == "mid_block":
            kind, j, rest = p[1], int(p[2]), ".".join(p[3:])
            nk = f"middle_block.{2 * j}.{resnet_to_ldm(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
        elif p[0] == "up_blocks":
            i, kind, j, rest = int(p[1]), p[2], int(p[3]), ".".join(p[4:])
            if kind == "upsamplers":
                idx = i * (lpb + 1) + lpb
                has_attn = cfg["up_block_types"][i].startswith("CrossAttn")
                nk = f"output_blocks.{idx}.{2 if has_attn else 1}.conv.{p[-1]}"
            else:
                idx = i * (lpb + 1) + j
                nk = f"output_blocks.{idx}.0.{resnet_to_ldm(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
        else:
            raise KeyError(k)
        out["model.diffusion_model." + nk] = v
    assert n >= 1
    return out


def vae_decoder_to_ldm(sd, cfg):
    n = len(cfg["up_block_types"])
    out = {}
    for k, v in sd.items():
        if not (k.startswith("decoder.") or k.startswith("post_quant_conv.")):
            continue
        nk = k.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        p = nk.split(".")
        if p[1] == "up_blocks":
            i = int(p[2])
            b = n - 1 - i
            if p[3] == "resnets":
                nk = f"decoder.up.{b}.block.{p[4]}." + ".".join(p[5:])
            else:
                nk = f"decoder.up.{b}.upsample.conv.{p[-1]}"
        elif p[1] == "mid_block":
            if p[2] == "resnets":
                nk = f"decoder.mid.block_{int(p[3]) + 1}." + ".".join(p[4:])
            else:
                leaf = ".".join(p[4:])
                leaf = {"group_norm.weight": "norm.weight", "group_norm.bias": "norm.bias",
                        "to_q.weight": "q.weight", "to_q.bias": "q.bias", "to_k.weight": "k.weight",
                        "to_k.bias": "k.bias", "to_v.weight": "v.weight", "to_v.bias": "v.bias",
                        "to_out.0.weight": "proj_out.weight", "to_out.0.bias": "proj_out.bias"}[leaf]
                nk = "decoder.mid.attn_1." + leaf
                if v.dim() == 2:  # LDM holds them as 1x1 convs
                    v = v[:, :, None, None]
        out["first_stage_model." + nk] = v
    return out


def clip_to_ldm(sd, prefix):
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v
            for k, v in sd.items() if "position_ids" not in k}


def open_clip_to_ldm(sd, prefix):
    out = {}
    layers = {}
    for k, v in sd.items():
        k = k if k.startswith("text_model.") or k == "text_projection.weight" else "text_model." + k
        if k == "text_model.embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = v
        elif k == "text_model.embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = v
        elif k.startswith("text_model.final_layer_norm."):
            out[prefix + "ln_final." + k.rsplit(".", 1)[1]] = v
        elif k == "text_projection.weight":
            out[prefix + "text_projection"] = v.T.contiguous()
        elif k.startswith("text_model.encoder.layers."):
            p = k.split(".")
            i, rest = int(p[3]), ".".join(p[4:])
            base = f"{prefix}transformer.resblocks.{i}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                layers.setdefault((i, rest.split(".")[-1]), {})[rest.split(".")[1]] = v
                continue
            rest = (rest.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                    .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj")
                    .replace("self_attn.out_proj", "attn.out_proj"))
            out[base + rest] = v
        elif "position_ids" not in k:
            raise KeyError(k)
    for (i, leaf), qkv in layers.items():
        name = "in_proj_weight" if leaf == "weight" else "in_proj_bias"
        out[f"{prefix}transformer.resblocks.{i}.attn.{name}"] = torch.cat([qkv["q_proj"], qkv["k_proj"], qkv["v_proj"]])
    return out


def check_round_trip(ckpt, folder, xl):
    """diffusers' own converters read the file back to the folder's tensors, bit for bit."""
    from diffusers.loaders import single_file_utils as su
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def same(name, got, want):
        want = {k: v for k, v in want.items() if "position_ids" not in k}
        missing, extra = set(want) - set(got), set(got) - set(want)
        assert not missing and not extra, f"{name}: missing {sorted(missing)[:4]}, extra {sorted(extra)[:4]}"
        for k in want:
            assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), f"{name}: {k} differs"

    unet, ucfg = part(folder, "unet")
    same("unet", su.convert_ldm_unet_checkpoint(ckpt, ucfg), unet)
    vae, vcfg = part(folder, "vae")
    got = su.convert_ldm_vae_checkpoint(ckpt, vcfg)
    same("vae decoder", {k: v for k, v in got.items() if k.startswith(("decoder.", "post_quant_conv."))},
         {k: v for k, v in vae.items() if k.startswith(("decoder.", "post_quant_conv."))})
    refiner = not os.path.isdir(os.path.join(folder, "text_encoder"))
    if refiner:  # the SDXL refiner: OpenCLIP bigG alone, as embedder 0
        te2, t2cfg = part(folder, "text_encoder_2")
        te2 = {(k if k.startswith("text_model.") or k == "text_projection.weight" else "text_model." + k): v
               for k, v in te2.items()}
        model = CLIPTextModelWithProjection(CLIPTextConfig(**t2cfg))
        same("text_encoder_2", su.convert_open_clip_checkpoint(model, ckpt, prefix="conditioner.embedders.0.model."),
             te2)
        return
    te, tcfg = part(folder, "text_encoder")
    te = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in te.items()}
    if xl or "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in ckpt:
        same("text_encoder", su.convert_ldm_clip_checkpoint(ckpt), te)
    else:  # SD 2: OpenCLIP
        model = CLIPTextModel(CLIPTextConfig(**tcfg))
        same("text_encoder", su.convert_open_clip_checkpoint(model, ckpt), te)
    if xl:
        te2, t2cfg = part(folder, "text_encoder_2")
        te2 = {(k if k.startswith("text_model.") or k == "text_projection.weight" else "text_model." + k): v
               for k, v in te2.items()}
        model = CLIPTextModelWithProjection(CLIPTextConfig(**t2cfg))
        got = su.convert_open_clip_checkpoint(model, ckpt, prefix="conditioner.embedders.1.model.")
        same("text_encoder_2", got, te2)


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", help="convert this diffusers folder instead of the tiny ones (not committed)")
    ap.add_argument("--out", help="with --folder: the .safetensors to write")
    ap.add_argument("--open-clip", action="store_true", help="with --folder: an SD 2.x (OpenCLIP) text encoder")
    args = ap.parse_args()
    out_dir = os.path.join(DATA, "single-file")
    jobs = [(os.path.join(DATA, n), os.path.join(out_dir, n + ".safetensors"), n == "tiny-sd2")
            for n in ("tiny-sd1", "tiny-sd2", "tiny-sdxl", "tiny-sdxl-refiner")]
    if args.folder:
        jobs = [(args.folder, args.out, args.open_clip)]
    for folder, path, open_clip in jobs:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        xl = os.path.isdir(os.path.join(folder, "text_encoder_2"))
        unet, ucfg = part(folder, "unet")
        vae, vcfg = part(folder, "vae")
        ckpt = {**unet_to_ldm(unet, ucfg), **vae_decoder_to_ldm(vae, vcfg)}
        if not os.path.isdir(os.path.join(folder, "text_encoder")):  # the refiner
            te2, _ = part(folder, "text_encoder_2")
            ckpt.update(open_clip_to_ldm(te2, "conditioner.embedders.0.model."))
            check_round_trip(ckpt, folder, xl)
            save_file(dict(sorted(ckpt.items())), path, metadata={"format": "pt"})
            os.chmod(path, 0o644)
            continue
        te, _ = part(folder, "text_encoder")
        if xl:
            te2, _ = part(folder, "text_encoder_2")
            ckpt.update(clip_to_ldm(te, "conditioner.embedders.0.transformer."))
            ckpt.update(open_clip_to_ldm(te2, "conditioner.embedders.1.model."))
        elif open_clip:
            ckpt.update(open_clip_to_ldm(te, "cond_stage_model.model."))
        else:
            ckpt.update(clip_to_ldm(te, "cond_stage_model.transformer."))
        check_round_trip(ckpt, folder, xl)
        save_file(dict(sorted(ckpt.items())), path, metadata={"format": "pt"})
        os.chmod(path, 0o644)
        print(f"{path}: {len(ckpt)} tensors, {os.path.getsize(path) / 1e6:.2f} MB; diffusers' converters agree")


if __name__ == "__main__":
    main()
