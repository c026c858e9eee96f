#!/usr/bin/env python3
"""Builds the two tiny random-weight Stable Diffusion folders farm's engine tests load.

    tests/data/tiny-sd1   SD-1.x-shaped (PNDM/epsilon, conv attention projections, quick_gelu CLIP)
    tests/data/tiny-sd2   SD-2.x-shaped (DDIM/v_prediction, linear projections, per-level heads,
                          gelu CLIP, pad token '!')
    tests/data/tiny-sdxl  SDXL-base-shaped (two text encoders, pooled projection, "text_time"
                          added conditioning, transformer depth per level, Euler)

Both use the real CLIP vocabulary (49408 tokens), so farm's tokenizer can be checked
against them, and the standard diffusers layout (save_pretrained, safetensors).
Weights are drawn from fixed seeds; every norm weight/bias and other constant
parameter is perturbed so a swapped or ignored parameter changes the outputs.
Storage dtypes are mixed on purpose (F32/F16/BF16) so every loader path is used.

Usage:  python tools/reference/make_tiny_models.py [--out tests/data] [--vocab DIR]
Then:   python tools/reference/make_model_reference.py tests/data/tiny-sd1 tests/data/tiny-sd2
"""
import argparse
import gzip
import json
import os
import shutil
import tempfile

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# ---------------------------------------------------------------------------------------------
# The real CLIP BPE vocabulary, as Hugging Face's openai/clip-vit-large-patch14 ships it.
# Built from open_clip_torch's bpe_simple_vocab_16e6.txt.gz exactly as the slow CLIPTokenizer
# builds its encoder: 256 byte symbols, the same 256 with '</w>', one entry per merge (48894),
# then <|startoftext|> and <|endoftext|>: 49408 in all.

NUM_MERGES = 49152 - 256 - 2  # 48894, the count open_clip and HF both keep
VOCAB_SIZE = 49408


def bytes_to_unicode():
    """Byte -> printable char table of GPT-2/CLIP BPE; its value order is the vocab id order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def load_merges():
    import open_clip
    path = os.path.join(os.path.dirname(open_clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    # line 0 is the '#version' header; open_clip keeps lines[1 : 1 + NUM_MERGES]
    merges = lines[1:1 + NUM_MERGES]
    assert len(merges) == NUM_MERGES
    return merges


def build_vocab(merges):
    symbols = list(bytes_to_unicode().values())
    symbols = symbols + [s + "</w>" for s in symbols]
    symbols += ["".join(m.split(" ")) for m in merges]
    symbols += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {s: i for i, s in enumerate(symbols)}
    assert len(symbols) == VOCAB_SIZE and len(vocab) == VOCAB_SIZE
    return vocab


def write_clip_vocab(out_dir):
    """Writes vocab.json and merges.txt ('#version: 0.2' + 48894 merges) into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    merges = load_merges()
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(build_vocab(merges), f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def read_vocab(d):
    with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
        merges = [l for l in f.read().split("\n") if l and not l.startswith("#version")]
    return vocab, merges


def clip_vocab_dir(requested, tmp):
    """The folder holding vocab.json/merges.txt: `requested` if it has them (checked against a
    fresh build from open_clip), else a fresh build in `tmp`."""
    write_clip_vocab(tmp)
    if requested and os.path.exists(os.path.join(requested, "vocab.json")):
        assert read_vocab(requested) == read_vocab(tmp), f"{requested} differs from open_clip's BPE"
        print(f"vocab: {requested} (matches open_clip build)")
        return requested
    print(f"vocab: built from open_clip into {tmp}")
    return tmp

# ---------------------------------------------------------------------------------------------
# Model specs.


def sd1_spec():
    return dict(
        seed=1,
        unet=dict(
            sample_size=16, in_channels=4, out_channels=4,
            block_out_channels=(32, 64), layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, use_linear_projection=False,
            norm_num_groups=32, norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
            downsample_padding=1, mid_block_scale_factor=1, center_input_sample=False),
        text=dict(
            vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=37, num_hidden_layers=3,
            num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, projection_dim=32, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        # 2 levels: latents are image/2 (vae_scale_factor comes from the config, not a constant 8)
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=32, act_fn="silu", sample_size=32,
            scaling_factor=0.18215),
        # SD 1.5's scheduler_config.json, plus the fields newer diffusers write out.
        scheduler=dict(
            _class_name="PNDMScheduler", beta_start=0.00085, beta_end=0.012,
            beta_schedule="scaled_linear", num_train_timesteps=1000, set_alpha_to_one=False,
            skip_prk_steps=True, steps_offset=1, trained_betas=None, clip_sample=False,
            prediction_type="epsilon", timestep_spacing="leading"),
        pad_token="<|endoftext|>",
        dtypes=dict(unet=torch.float16, text_encoder=torch.float16, vae=torch.bfloat16),
    )


def sd2_spec():
    # Narrower than sd1 with 8 norm groups (group sizes 2/4 instead of 1/2, as SD's 10) and a
    # cross-attention width (24) equal to no channel count, so no K/V projection is square.
    return dict(
        seed=2,
        unet=dict(
            sample_size=16, in_channels=4, out_channels=4,
            block_out_channels=(16, 32, 32), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=24, attention_head_dim=(2, 4, 4), use_linear_projection=True,
            upcast_attention=True, norm_num_groups=8, norm_eps=1e-5, act_fn="silu",
            flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, mid_block_scale_factor=1,
            center_input_sample=False),
        text=dict(
            vocab_size=VOCAB_SIZE, hidden_size=24, intermediate_size=64, num_hidden_layers=4,
            num_attention_heads=3, max_position_embeddings=77, hidden_act="gelu",
            layer_norm_eps=1e-5, projection_dim=24, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        # 3 levels: latents are image/4
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16, 32),
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            layers_per_block=2, norm_num_groups=8, act_fn="silu", sample_size=64,
            scaling_factor=0.18215),
        # SD 2.1's scheduler_config.json, but 'trailing' spacing to exercise a second spacing.
        scheduler=dict(
            _class_name="DDIMScheduler", beta_start=0.00085, beta_end=0.012,
            beta_schedule="scaled_linear", num_train_timesteps=1000, set_alpha_to_one=False,
            skip_prk_steps=True, steps_offset=1, trained_betas=None, clip_sample=False,
            prediction_type="v_prediction", timestep_spacing="trailing"),
        pad_token="!",
        dtypes=dict(unet=torch.float32, text_encoder=torch.float16, vae=torch.float16),
    )


def sdxl_spec():
    # SDXL base-shaped: no attention at the top level, transformer depth per level (the mid
    # block takes the deepest level's), two text encoders of different widths (quick_gelu CLIP-L
    # style and gelu OpenCLIP-bigG style with a text projection), their penultimate states
    # concatenated (16 + 24 = 40 = cross_attention_dim), and the "text_time" added conditioning:
    # 6 time ids x addition_time_embed_dim 8 + projection_dim 20 = 68 inputs.
    return dict(
        seed=3,
        unet=dict(
            sample_size=16, in_channels=4, out_channels=4,
            block_out_channels=(16, 32, 32), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 3), attention_head_dim=(2, 4, 4),
            cross_attention_dim=40, use_linear_projection=True, upcast_attention=False,
            addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=68, norm_num_groups=8, norm_eps=1e-5,
            act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
            mid_block_scale_factor=1, center_input_sample=False),
        text=dict(
            vocab_size=VOCAB_SIZE, hidden_size=16, intermediate_size=37, num_hidden_layers=3,
            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, projection_dim=16, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        text_2=dict(
            vocab_size=VOCAB_SIZE, hidden_size=24, intermediate_size=48, num_hidden_layers=4,
            num_attention_heads=3, max_position_embeddings=77, hidden_act="gelu",
            layer_norm_eps=1e-5, projection_dim=20, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=8, act_fn="silu", sample_size=32,
            scaling_factor=0.13025, force_upcast=True),
        # SDXL base 1.0's scheduler_config.json.
        scheduler=dict(
            _class_name="EulerDiscreteScheduler", beta_start=0.00085, beta_end=0.012,
            beta_schedule="scaled_linear", num_train_timesteps=1000, set_alpha_to_one=False,
            skip_prk_steps=True, steps_offset=1, trained_betas=None, clip_sample=False,
            interpolation_type="linear", use_karras_sigmas=False, sample_max_value=1.0,
            prediction_type="epsilon", timestep_spacing="leading"),
        pad_token="<|endoftext|>",
        pad_token_2="!",
        dtypes=dict(unet=torch.float16, text_encoder=torch.float16, text_encoder_2=torch.bfloat16,
                    vae=torch.float32),
    )


def sdxl_refiner_spec():
    # SDXL refiner-shaped: only the second (OpenCLIP-bigG style) text encoder, whose penultimate
    # state alone is the context (cross_attention_dim 24); 4 levels with attention in the middle two
    # only (DownBlock2D, CrossAttn, CrossAttn, DownBlock2D, as the refiner), a single transformer
    # depth, and "text_time" with 5 time ids (original size, crop, aesthetic score):
    # 5 x 8 + projection_dim 20 = 60 inputs. Its own random text encoder and VAE (the real refiner
    # shares the base's; different weights here catch a render that used the base's by mistake).
    base = sdxl_spec()
    return dict(
        seed=4,
        unet=dict(
            sample_size=16, in_channels=4, out_channels=4,
            block_out_channels=(16, 24, 24, 16), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=2, attention_head_dim=(2, 4, 4, 2),
            cross_attention_dim=24, use_linear_projection=True, upcast_attention=False,
            addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=60, norm_num_groups=8, norm_eps=1e-5,
            act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
            mid_block_scale_factor=1, center_input_sample=False),
        text_2=base["text_2"],
        vae=base["vae"],
        scheduler=base["scheduler"],
        pad_token_2="!",
        refiner=True,
        dtypes=dict(unet=torch.bfloat16, text_encoder_2=torch.float16, vae=torch.float32),
    )


SPECS = {"tiny-sd1": sd1_spec, "tiny-sd2": sd2_spec, "tiny-sdxl": sdxl_spec,
         "tiny-sdxl-refiner": sdxl_refiner_spec}

# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def perturb_constant_params(model, gen):
    """Norm weights start at 1 and many biases at 0: a loader that swapped or dropped them
    would go unnoticed. Add N(0, 0.1) to every parameter whose elements are all equal."""
    for p in model.parameters():
        flat = p.detach().reshape(-1)
        if flat.numel() > 1 and bool((flat == flat[0]).all()):
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def fix_tokenizer_folder(tok_dir, vocab_dir, pad_token):
    """transformers 5 saves only tokenizer.json; SD checkpoints ship vocab.json + merges.txt +
    special_tokens_map.json + tokenizer_config.json, which is what farm reads. Write that."""
    tj = os.path.join(tok_dir, "tokenizer.json")
    if os.path.exists(tj):
        os.remove(tj)
    for fn in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(vocab_dir, fn), os.path.join(tok_dir, fn))
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "pad_token": pad_token, "unk_token": "<|endoftext|>"}
    with open(os.path.join(tok_dir, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
        f.write("\n")
    config = dict(special, add_prefix_space=False, do_lower_case=True, errors="replace",
                  model_max_length=77, tokenizer_class="CLIPTokenizer")
    with open(os.path.join(tok_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def prefix_text_encoder_keys(path):
    """transformers 5 writes CLIPTextModel keys without the 'text_model.' prefix; every published
    SD checkpoint (and transformers 4) has it. Rewrite to the published names; transformers 5
    strips the prefix again on load (checked by make_model_reference.py)."""
    from safetensors.torch import load_file, save_file
    sd = load_file(path)
    sd = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in sd.items()}
    save_file(dict(sorted(sd.items())), path, metadata={"format": "pt"})


def check_reload(out, text_encoder, tokenizer):
    """The rewritten text encoder and tokenizer folders load back to exactly what was saved."""
    from transformers import CLIPTextModel, CLIPTokenizer
    te, info = CLIPTextModel.from_pretrained(os.path.join(out, "text_encoder"),
                                             output_loading_info=True)
    assert not any(info.values()), f"text encoder reload: {info}"
    want, got = text_encoder.state_dict(), te.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    tok = CLIPTokenizer.from_pretrained(os.path.join(out, "tokenizer"))
    probe = ["a photo of a cat", "", "A Red Circle, on the LEFT!!", "naïve café — 3.5 <|endoftext|>"]
    kw = dict(padding="max_length", max_length=77, truncation=True)
    assert tok(probe, **kw).input_ids == tokenizer(probe, **kw).input_ids
    assert tok.pad_token == tokenizer.pad_token


def make_tokenizer(vocab_dir, pad_token, out_dir):
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer(vocab=os.path.join(vocab_dir, "vocab.json"),
                        merges=os.path.join(vocab_dir, "merges.txt"),
                        pad_token=pad_token, model_max_length=77)
    return tok


def write_scheduler_config(out, spec):
    """The scheduler keeps only its own __init__ arguments; write the full SD-style config so
    XxxScheduler.from_config(...) sees clip_sample etc. exactly as with a real checkpoint."""
    path = os.path.join(out, "scheduler", "scheduler_config.json")
    with open(path) as f:
        saved = json.load(f)
    saved.update(spec["scheduler"])
    with open(path, "w") as f:
        json.dump(dict(sorted(saved.items(), key=lambda kv: (not kv[0].startswith("_"), kv[0]))),
                  f, indent=2)
        f.write("\n")


def build(name, out_root, vocab_dir):
    spec, out = SPECS[name](), os.path.join(out_root, name)
    if spec.get("refiner"):
        return build_refiner_folder(spec, out, vocab_dir)
    return build_sdxl_folder(spec, out, vocab_dir) if "text_2" in spec else build_folder(spec, out, vocab_dir)


def build_folder(spec, out, vocab_dir):
    """Random-weight SD folder for `spec` (see sd1_spec) in the standard diffusers layout."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    gen = torch.Generator().manual_seed(1000 + spec["seed"])

    torch.manual_seed(spec["seed"])
    unet = UNet2DConditionModel(**spec["unet"]).eval()
    perturb_constant_params(unet, gen)
    torch.manual_seed(spec["seed"] + 10)
    text_encoder = CLIPTextModel(CLIPTextConfig(**spec["text"])).eval()
    perturb_constant_params(text_encoder, gen)
    torch.manual_seed(spec["seed"] + 20)
    vae = AutoencoderKL(**spec["vae"]).eval()
    perturb_constant_params(vae, gen)

    sched_cfg = dict(spec["scheduler"])
    sched_cls = getattr(diffusers, sched_cfg.pop("_class_name"))
    scheduler = sched_cls.from_config(sched_cfg)
    tokenizer = make_tokenizer(vocab_dir, spec["pad_token"], out)

    dt = spec["dtypes"]
    pipe = StableDiffusionPipeline(
        vae=vae.to(dt["vae"]), text_encoder=text_encoder.to(dt["text_encoder"]),
        tokenizer=tokenizer, unet=unet.to(dt["unet"]), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if os.path.exists(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)

    write_scheduler_config(out, spec)

    fix_tokenizer_folder(os.path.join(out, "tokenizer"), vocab_dir, spec["pad_token"])
    prefix_text_encoder_keys(os.path.join(out, "text_encoder", "model.safetensors"))
    check_reload(out, text_encoder, tokenizer)
    for root, _, files in os.walk(out):  # safetensors writes 0600
        for fn in files:
            os.chmod(os.path.join(root, fn), 0o644)
    return out


def seeded(make, seed, gen):
    """A module drawn from torch.manual_seed(seed), its constant parameters perturbed from gen."""
    torch.manual_seed(seed)
    m = make().eval()
    perturb_constant_params(m, gen)
    return m


def check_second_encoder(out, te2, tok2):
    """text_encoder_2 and tokenizer_2 read back from the folder as they were built."""
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer
    te2b = CLIPTextModelWithProjection.from_pretrained(os.path.join(out, "text_encoder_2"))
    want, got = te2.state_dict(), te2b.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    tok2b = CLIPTokenizer.from_pretrained(os.path.join(out, "tokenizer_2"))
    probe = ["a photo of a cat", "", "A Red Circle, on the LEFT!!", "naïve café — 3.5"]
    kw = dict(padding="max_length", max_length=77, truncation=True)
    assert tok2b(probe, **kw).input_ids == tok2(probe, **kw).input_ids
    assert tok2b.pad_token == tok2.pad_token


def make_public(out):
    for root, _, files in os.walk(out):  # safetensors writes 0600
        for fn in files:
            os.chmod(os.path.join(root, fn), 0o644)


def build_sdxl_folder(spec, out, vocab_dir):
    """Random-weight SDXL base folder: text_encoder (CLIPTextModel) + text_encoder_2
    (CLIPTextModelWithProjection), tokenizer + tokenizer_2 (pad '!', as SDXL's), both in the
    vocab.json + merges.txt layout (1.4 MB against tokenizer.json's 3.6 MB)."""
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline, UNet2DConditionModel
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    unet = seeded(lambda: UNet2DConditionModel(**spec["unet"]), spec["seed"], gen)
    te1 = seeded(lambda: CLIPTextModel(CLIPTextConfig(**spec["text"])), spec["seed"] + 10, gen)
    te2 = seeded(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_2"])), spec["seed"] + 15, gen)
    vae = seeded(lambda: AutoencoderKL(**spec["vae"]), spec["seed"] + 20, gen)

    sched_cfg = dict(spec["scheduler"])
    scheduler = getattr(diffusers, sched_cfg.pop("_class_name")).from_config(sched_cfg)
    tok1 = make_tokenizer(vocab_dir, spec["pad_token"], out)
    tok2 = make_tokenizer(vocab_dir, spec["pad_token_2"], out)

    dt = spec["dtypes"]
    pipe = StableDiffusionXLPipeline(
        vae=vae.to(dt["vae"]), text_encoder=te1.to(dt["text_encoder"]),
        text_encoder_2=te2.to(dt["text_encoder_2"]), tokenizer=tok1, tokenizer_2=tok2,
        unet=unet.to(dt["unet"]), scheduler=scheduler, force_zeros_for_empty_prompt=True)
    if os.path.exists(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)

    write_scheduler_config(out, spec)

    fix_tokenizer_folder(os.path.join(out, "tokenizer"), vocab_dir, spec["pad_token"])
    fix_tokenizer_folder(os.path.join(out, "tokenizer_2"), vocab_dir, spec["pad_token_2"])
    prefix_text_encoder_keys(os.path.join(out, "text_encoder", "model.safetensors"))
    check_reload(out, te1, tok1)
    check_second_encoder(out, te2, tok2)
    make_public(out)
    return out


def build_refiner_folder(spec, out, vocab_dir):
    """Random-weight SDXL refiner folder, as StableDiffusionXLImg2ImgPipeline saves the real one:
    text_encoder and tokenizer null, requires_aesthetics_score true, force_zeros_for_empty_prompt
    false."""
    from diffusers import AutoencoderKL, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    unet = seeded(lambda: UNet2DConditionModel(**spec["unet"]), spec["seed"], gen)
    te2 = seeded(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_2"])), spec["seed"] + 15, gen)
    vae = seeded(lambda: AutoencoderKL(**spec["vae"]), spec["seed"] + 20, gen)
    sched_cfg = dict(spec["scheduler"])
    scheduler = getattr(diffusers, sched_cfg.pop("_class_name")).from_config(sched_cfg)
    tok2 = make_tokenizer(vocab_dir, spec["pad_token_2"], out)
    dt = spec["dtypes"]
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae.to(dt["vae"]), text_encoder=None, text_encoder_2=te2.to(dt["text_encoder_2"]),
        tokenizer=None, tokenizer_2=tok2, unet=unet.to(dt["unet"]), scheduler=scheduler,
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
    if os.path.exists(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)
    write_scheduler_config(out, spec)
    fix_tokenizer_folder(os.path.join(out, "tokenizer_2"), vocab_dir, spec["pad_token_2"])
    check_second_encoder(out, te2, tok2)
    make_public(out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--vocab", default=os.path.join(REPO, "tests", "data", "clip-vocab"),
                    help="folder with vocab.json/merges.txt; built from open_clip when absent")
    ap.add_argument("--only", choices=sorted(SPECS), action="append")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        vocab_dir = clip_vocab_dir(args.vocab, tmp)
        for name in args.only or sorted(SPECS):
            out = build(name, args.out, vocab_dir)
            total = 0
            for root, _, files in os.walk(out):
                for fn in sorted(files):
                    total += os.path.getsize(os.path.join(root, fn))
            print(f"{out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
