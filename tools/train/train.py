#!/usr/bin/env python3
"""Trains models/tiny-shapes: a Stable-Diffusion-architecture text-to-image
model (CLIP text encoder on the real CLIP vocabulary, UNet2DConditionModel
with cross-attention, AutoencoderKL) on the toy scenes of shapes.py, on the
CPU, in under an hour.

Phases (each reads the previous one's output from --work):
  vae     train the AutoencoderKL on 64x64 scenes (f=4 -> 16x16x4 latents),
          then measure scaling_factor = 1/std(latents) and store it in the
          VAE config (as SD does: the UNet sees unit-variance latents)
  unet    encode a fixed set of training scenes once, then train the UNet and
          the text encoder together (v-prediction, min-SNR weighting, 10 %
          empty captions for classifier-free guidance, EMA weights)
  export  write the diffusers folder (fp16 safetensors) to --out
  all     the three in turn

Seeds are fixed; run with one thread for bit-reproducible files, e.g.
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice -n 15 \\
    /work/venv/bin/python tools/train/train.py all
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler,
                       StableDiffusionPipeline, UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED = 1234

# Training noise schedule. "linear" 1e-4..0.02 ends at alpha_bar ~ 4e-5, so
# the last step is (almost) pure noise, unlike SD's scaled_linear
# (alpha_bar ~ 5e-3, which leaks the mean colour of a 16x16 latent).
NOISE = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001,
             beta_end=0.02, prediction_type="v_prediction")

VAE_STEPS, VAE_BATCH, VAE_LR = 2400, 8, 8e-4
KL_WEIGHT = 1e-4            # on the per-element KL; keeps latents O(1)
UNET_STEPS, UNET_BATCH, UNET_LR = 5000, 32, 1e-3
UNET_STOP_AFTER = 3000      # the 5000-step cosine schedule, cut after 3000 steps
FINETUNE_STEPS, FINETUNE_LR = 2000, 6e-4
N_LATENTS = 2048            # training images encoded once for the UNet phase
CAPTION_DROP = 0.1
MIN_SNR_GAMMA = 5.0
EMA_DECAY = 0.999
TEXT_WIDTH = 64


# norm_num_groups=8 (SD: 32) in both VAE and UNet: with one channel per group
# GroupNorm removes each channel's spatial mean, so a flat background's
# colour cannot pass through norm_out -> conv_out (measured: the VAE's L1 loss
# stalled at ~0.5 with 32 groups on 32 channels; it falls at once with 8).
def make_vae():
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=shapes.SIZE,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8)


def make_unet():
    return UNet2DConditionModel(
        sample_size=shapes.SIZE // 4, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=4, norm_num_groups=8)


def make_text_encoder():
    cfg = CLIPTextConfig(
        vocab_size=49408, hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
        hidden_act="quick_gelu", projection_dim=TEXT_WIDTH,
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    return CLIPTextModel(cfg)


def make_tokenizer(vocab_dir):
    # SD 1.x convention: pad with <|endoftext|>, 77 tokens.
    return CLIPTokenizer(os.path.join(vocab_dir, "vocab.json"), os.path.join(vocab_dir, "merges.txt"),
                         model_max_length=77)


def make_inference_scheduler():
    # Trailing spacing starts sampling at t=999, where training saw pure noise.
    return DDIMScheduler(**NOISE, timestep_spacing="trailing", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def to_tensor(u8):
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def train_vae(work, steps):
    torch.manual_seed(SEED)
    rng = np.random.Generator(np.random.PCG64(SEED))
    scenes = shapes.train_scenes()
    vae = make_vae()
    # Start the posterior std at ~0.05 instead of 1, so information flows
    # through the sampled latent from the first step (std 1 drowns it).
    with torch.no_grad():
        vae.encoder.conv_out.bias[4:].fill_(-6.0)
    log(f"vae: {sum(p.numel() for p in vae.parameters()) / 1e6:.3f} M params, {steps} steps")
    opt = torch.optim.AdamW(vae.parameters(), lr=VAE_LR, weight_decay=0.0)
    t0 = time.time()
    for step in range(steps):
        lr = VAE_LR * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        picks = rng.integers(0, len(scenes), size=VAE_BATCH)
        x = to_tensor(np.stack([shapes.render(scenes[i], rng) for i in picks]))
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        mse = (rec - x).pow(2).mean()
        l1 = (rec - x).abs().mean()     # sharpens the edges MSE alone blurs
        kl = post.kl().mean() / post.mean[0].numel()
        loss = mse + 0.5 * l1 + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            log(f"vae step {step} mse {mse.item():.4f} kl/elem {kl.item():.2f} {time.time() - t0:.0f}s")
    vae.eval()
    # scaling_factor from data: 1/std of the posterior means of fresh scenes.
    imgs, _ = shapes.make_dataset(512, seed=SEED + 1)
    with torch.no_grad():
        z = torch.cat([vae.encode(to_tensor(imgs[i:i + 64])).latent_dist.mean for i in range(0, 512, 64)])
    std = z.std().item()
    log(f"vae latents: mean {z.mean().item():.3f} std {std:.3f} per-channel mean "
        f"{z.mean((0, 2, 3)).tolist()} std {z.std((0, 2, 3)).tolist()}")
    vae.register_to_config(scaling_factor=round(1.0 / std, 5))
    vae.save_pretrained(os.path.join(work, "vae"))
    log(f"vae: saved, scaling_factor {vae.config.scaling_factor}, {time.time() - t0:.0f}s")


def encode_dataset(vae, tok, n, seed):
    imgs, caps = shapes.make_dataset(n, seed=seed)
    with torch.no_grad():
        z = torch.cat([vae.encode(to_tensor(imgs[i:i + 64])).latent_dist.mean for i in range(0, n, 64)])
    z = z * vae.config.scaling_factor
    uniq = sorted(set(caps))
    ids_of = dict(zip(uniq, tok(uniq, padding="max_length", max_length=77, return_tensors="pt").input_ids))
    ids = torch.stack([ids_of[c] for c in caps])
    return z, ids


class Ema:
    def __init__(self, model):
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model, decay):
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(decay).add_(v, alpha=1 - decay)
            else:
                self.shadow[k].copy_(v)


def train_unet(work, steps, vocab_dir, stop_after=None, finetune=False):
    """finetune=False: from scratch, min-SNR weighting, `steps` long cosine
    schedule, stopped after `stop_after` steps (the EMA snapshot then holds
    the weights). finetune=True: from that snapshot, plain v-loss (no min-SNR:
    that weighting gives the high-noise steps, where the layout and thus the
    position is decided, almost no weight), fresh optimizer and schedule."""
    seed = SEED + (4 if finetune else 2)
    torch.manual_seed(seed)
    rng = np.random.Generator(np.random.PCG64(seed))
    peak_lr = FINETUNE_LR if finetune else UNET_LR
    t0 = time.time()
    vae = AutoencoderKL.from_pretrained(os.path.join(work, "vae")).eval()
    tok = make_tokenizer(vocab_dir)
    z_all, ids_all = encode_dataset(vae, tok, N_LATENTS, seed=SEED + 3)
    log(f"unet: encoded {N_LATENTS} scenes, latent std {z_all.std().item():.3f} "
        f"mean {z_all.mean().item():.3f}, {time.time() - t0:.0f}s")
    empty_ids = tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids[0]
    unet, text = make_unet(), make_text_encoder()
    if finetune:
        snap = torch.load(os.path.join(work, "ema_snapshot.pt"))
        unet.load_state_dict(snap["unet"])
        text.load_state_dict(snap["text"])
        log(f"finetune: from the EMA snapshot after step {snap['step']}")
    log(f"unet {sum(p.numel() for p in unet.parameters()) / 1e6:.3f} M params, text encoder "
        f"{sum(p.numel() for p in text.parameters()) / 1e6:.3f} M params, {steps} steps")
    sched = DDPMScheduler(**NOISE)
    alphas = sched.alphas_cumprod
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=peak_lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema_u, ema_t = Ema(unet), Ema(text)
    run_loss = None
    for step in range(steps):
        if stop_after is not None and step == stop_after:
            break
        lr = peak_lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, N_LATENTS, size=UNET_BATCH))
        z0, ids = z_all[idx], ids_all[idx].clone()
        drop = torch.from_numpy(rng.random(UNET_BATCH) < CAPTION_DROP)
        ids[drop] = empty_ids
        t = torch.from_numpy(rng.integers(0, NOISE["num_train_timesteps"], size=UNET_BATCH))
        noise = torch.randn_like(z0)
        zt = sched.add_noise(z0, noise, t)
        v = sched.get_velocity(z0, noise, t)
        cond = text(input_ids=ids).last_hidden_state
        pred = unet(zt, t, cond).sample
        snr = alphas[t] / (1 - alphas[t])
        if finetune:
            w = torch.ones_like(snr)
        else:
            w = torch.clamp(snr, max=MIN_SNR_GAMMA) / (snr + 1)   # min-SNR-gamma for v targets
        loss = (w * (pred - v).pow(2).mean((1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        ema_u.update(unet, decay)
        ema_t.update(text, decay)
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if step % 500 == 499:   # a snapshot to export from if the run must be cut short
            torch.save({"step": step, "unet": ema_u.shadow, "text": ema_t.shadow},
                       os.path.join(work, "ema_finetune_snapshot.pt" if finetune else "ema_snapshot.pt"))
        if step % 50 == 0 or step == steps - 1:
            log(f"unet step {step} loss {run_loss:.4f} lr {lr:.2e} {time.time() - t0:.0f}s")
    if not finetune:   # the snapshot is the result; unet/ comes from finetune
        last = min(steps, stop_after if stop_after is not None else steps) - 1
        torch.save({"step": last, "unet": ema_u.shadow, "text": ema_t.shadow},
                   os.path.join(work, "ema_snapshot.pt"))
        log(f"unet: saved the EMA snapshot after step {last}, {time.time() - t0:.0f}s")
        return
    unet.load_state_dict(ema_u.shadow)
    text.load_state_dict(ema_t.shadow)
    unet.save_pretrained(os.path.join(work, "unet"))
    text.save_pretrained(os.path.join(work, "text_encoder"))
    log(f"unet: saved EMA weights, {time.time() - t0:.0f}s")


def export(work, out, vocab_dir, dtype, snapshot=None):
    vae = AutoencoderKL.from_pretrained(os.path.join(work, "vae"))
    if snapshot:
        snap = torch.load(os.path.join(work, snapshot))
        unet, text = make_unet(), make_text_encoder()
        unet.load_state_dict(snap["unet"])
        text.load_state_dict(snap["text"])
        log(f"export: from the EMA snapshot after step {snap['step']}")
    else:
        unet = UNet2DConditionModel.from_pretrained(os.path.join(work, "unet"))
        text = CLIPTextModel.from_pretrained(os.path.join(work, "text_encoder"))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=make_tokenizer(vocab_dir),
                                   unet=unet, scheduler=make_inference_scheduler(),
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    if dtype == "fp16":
        pipe.to(torch.float16)
    if os.path.isdir(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)
    # The tokenizer files must be the committed CLIP vocabulary byte for byte.
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(vocab_dir, name), os.path.join(out, "tokenizer", name))
    # tokenizer.json (3.6 MB) only repeats vocab.json + merges.txt; transformers
    # rebuilds it from them (checked: same ids).
    tj = os.path.join(out, "tokenizer", "tokenizer.json")
    if os.path.exists(tj):
        os.remove(tj)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    log(f"export: {out} ({dtype}), {total / 1e6:.2f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["vae", "unet", "finetune", "export", "all"])
    ap.add_argument("--work", default="/tmp/tiny-shapes-work")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "tiny-shapes"))
    ap.add_argument("--vocab", default=os.path.join(REPO, "tests", "data", "clip-vocab"))
    ap.add_argument("--vae-steps", type=int, default=VAE_STEPS)
    ap.add_argument("--unet-steps", type=int, default=UNET_STEPS)
    ap.add_argument("--unet-stop-after", type=int, default=UNET_STOP_AFTER)
    ap.add_argument("--finetune-steps", type=int, default=FINETUNE_STEPS)
    ap.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    ap.add_argument("--snapshot", nargs="?", const="ema_snapshot.pt",
                    help="export: from an EMA snapshot file in --work instead of unet/ + text_encoder/")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if a.phase in ("vae", "all"):
        train_vae(a.work, a.vae_steps)
    if a.phase in ("unet", "all"):
        train_unet(a.work, a.unet_steps, a.vocab, stop_after=a.unet_stop_after)
    if a.phase in ("finetune", "all"):
        train_unet(a.work, a.finetune_steps, a.vocab, finetune=True)
    if a.phase in ("export", "all"):
        export(a.work, a.out, a.vocab, a.dtype, a.snapshot)


if __name__ == "__main__":
    main()
