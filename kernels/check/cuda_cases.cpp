// Shapes: SD 1.x attention has head dim 40/80/160 (320/640/1280 channels,
// 8 heads), SD 2.x/XL head dim 64; cross-attention reads 77 text tokens.
// Convolutions are 3x3 stride 1 and 2 (downsample) with pad 1, and 1x1
// (shortcuts); group norm uses 32 groups. Sizes are cut to keep each case
// well under a second in the emulator.
#include "kernels/check/cuda_cases.h"

#include <cmath>

namespace farm::kernels::testing {
namespace {

KernelCase attention(const char* name, int64_t batch, int64_t heads, int64_t lq, int64_t lkv, int64_t d,
                     bool causal = false, int64_t stride_pad = 0, float amplitude = 1.0f) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::attention;
  c.batch = batch;
  c.attn.heads = heads;
  c.attn.q_len = lq;
  c.attn.kv_len = lkv;
  c.attn.head_dim = d;
  c.attn.q_stride = heads * d + stride_pad;
  c.attn.kv_stride = heads * d + stride_pad;
  c.attn.out_stride = heads * d + stride_pad;
  c.attn.scale = 1.0f / std::sqrt(static_cast<float>(d));
  c.attn.causal = causal;
  c.amplitude = amplitude;
  return c;
}

KernelCase conv(const char* name, int64_t batch, int64_t h, int64_t w, int64_t cin, int64_t cout, int k, int stride,
                bool bias, bool residual) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::conv2d;
  c.batch = batch;
  c.conv.in_h = h;
  c.conv.in_w = w;
  c.conv.in_c = cin;
  c.conv.out_c = cout;
  c.conv.kernel = k;
  c.conv.stride = stride;
  c.conv.pad = k == 3 ? 1 : 0;
  c.bias = bias;
  c.residual = residual;
  return c;
}

KernelCase linear(const char* name, int64_t batch, int64_t rows, int64_t in, int64_t out, bool bias, bool residual) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::linear;
  c.batch = batch;
  c.rows = rows;
  c.in = in;
  c.out = out;
  c.bias = bias;
  c.residual = residual;
  return c;
}

KernelCase group_norm(const char* name, int64_t batch, int64_t hw, int64_t channels, int64_t groups, bool silu) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::group_norm;
  c.batch = batch;
  c.hw = hw;
  c.channels = channels;
  c.groups = groups;
  c.silu = silu;
  c.eps = 1e-5f;
  return c;
}

KernelCase layer_norm(const char* name, int64_t batch, int64_t rows, int64_t channels) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::layer_norm;
  c.batch = batch;
  c.rows = rows;
  c.channels = channels;
  return c;
}

KernelCase rms_norm(const char* name, int64_t batch, int64_t rows, int64_t channels, float eps) {
  KernelCase c = layer_norm(name, batch, rows, channels);
  c.op = OpKind::rms_norm;
  c.eps = eps;
  return c;
}

KernelCase rope(const char* name, int64_t batch, int64_t rows, int64_t heads, int64_t d, bool interleaved,
                int64_t stride_pad = 0) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::rope;
  c.batch = batch;
  c.rope.rows = rows;
  c.rope.heads = heads;
  c.rope.head_dim = d;
  c.rope.stride = heads * d + stride_pad;
  c.rope.interleaved = interleaved;
  return c;
}

// Grouped-query attention: `heads` query heads read kv_heads k/v heads.
KernelCase gqa(const char* name, int64_t batch, int64_t heads, int64_t kv_heads, int64_t lq, int64_t lkv, int64_t d,
               bool causal) {
  KernelCase c = attention(name, batch, heads, lq, lkv, d, causal);
  c.attn.kv_heads = kv_heads;
  c.attn.kv_stride = kv_heads * d;
  return c;
}

KernelCase pointwise(const char* name, OpKind op, int64_t batch, int64_t n) {
  KernelCase c;
  c.name = name;
  c.op = op;
  c.batch = batch;
  c.rows = n;
  return c;
}

std::vector<KernelCase> build() {
  std::vector<KernelCase> v;
  // SD 1.5 level 1 self-attention (head dim 40), q_len not a multiple of 64.
  v.push_back(attention("attn_sd15_self_d40", 2, 2, 96, 96, 40));
  // SD 1.5 cross-attention: 77 text tokens, head dims 40 / 80 / 160.
  v.push_back(attention("attn_sd15_cross_d40_kv77", 2, 2, 64, 77, 40));
  v.push_back(attention("attn_sd15_self_d80", 1, 2, 80, 80, 80));
  v.push_back(attention("attn_sd15_cross_d160_kv77", 1, 1, 48, 77, 160));
  // SD 2.x / XL: head dim 64; strides wider than heads·head_dim (fused qkv).
  v.push_back(attention("attn_sd2_self_d64", 2, 2, 130, 130, 64));
  v.push_back(attention("attn_sd2_strided_d64", 1, 2, 40, 77, 64, false, 24));
  // Each model's head counts (SD 2.x: 5 heads of 64 at level 1; SDXL: 10 and
  // 20 heads of 64; SD 1.5: 8 heads of 40/80/160) on short sequences, and
  // more than one 32-key tile at head dim 160 / odd kv at head dim 80.
  v.push_back(attention("attn_sd2_self_h5_d64", 1, 5, 72, 72, 64));
  v.push_back(attention("attn_sdxl_self_h10_d64", 1, 10, 80, 80, 64));
  v.push_back(attention("attn_sdxl_cross_h20_d64_kv77", 1, 20, 40, 77, 64));
  v.push_back(attention("attn_sd15_self_h8_d40", 1, 8, 70, 70, 40));
  v.push_back(attention("attn_sd15_cross_h8_d80_kv77", 1, 8, 33, 77, 80));
  v.push_back(attention("attn_sd15_self_d160", 1, 2, 70, 100, 160));
  // CLIP text encoder: causal, 77 tokens.
  v.push_back(attention("attn_clip_causal_d64", 2, 2, 77, 77, 64, true));
  // Large logits: the online max must keep exp() finite.
  v.push_back(attention("attn_large_logits_d64", 1, 1, 64, 100, 64, false, 0, 6.0f));
  // Edges: one query, one key, causal with q_len != kv_len (query i sees keys
  // 0..i), small head dims (the tiny test models use 8 and 32) padded to 48.
  v.push_back(attention("attn_one_query_kv77", 2, 2, 1, 77, 40));
  v.push_back(attention("attn_one_key", 1, 2, 70, 1, 80));
  v.push_back(attention("attn_causal_q50_kv77", 1, 2, 50, 77, 64, true));
  v.push_back(attention("attn_causal_q90_kv40", 1, 1, 90, 40, 40, true));
  v.push_back(attention("attn_head_dim8", 2, 4, 65, 33, 8));
  v.push_back(attention("attn_head_dim32_kv300", 1, 2, 70, 300, 32));
  // Wider than the flash kernel's 160: the row kernel (attention_rows.cu).
  // The SD 1.x/2.x VAE mid-block attention at full width (one head of 512) on
  // an 8x8 tile; a causal odd width over more than one key chunk.
  v.push_back(attention("attn_vae_d512_tile8x8", 1, 1, 64, 64, 512));
  v.push_back(attention("attn_d200_causal_kv150", 2, 2, 20, 150, 200, true));
  // Head dim and strides not multiples of 8: the element-wise tile loads.
  v.push_back(attention("attn_d36_odd_stride", 2, 2, 70, 77, 36, false, 3));
  // Qwen3's grouped-query, causal self-attention (32 query heads on 8 k/v
  // heads of 128, cut to 8 on 2); a group of 3 on the row kernel (d 200).
  v.push_back(gqa("attn_gqa_qwen3_causal_d128", 1, 8, 2, 45, 45, 128, true));
  v.push_back(gqa("attn_gqa_rows_d200", 2, 3, 1, 20, 37, 200, false));

  v.push_back(conv("conv3x3_s1_ragged", 2, 9, 7, 20, 24, 3, 1, true, true));
  v.push_back(conv("conv3x3_s2_downsample", 2, 11, 9, 32, 40, 3, 2, true, false));
  v.push_back(conv("conv3x3_s1_sd_block", 1, 16, 16, 64, 64, 3, 1, true, false));
  v.push_back(conv("conv3x3_conv_in_c4", 2, 8, 8, 4, 32, 3, 1, true, false));
  v.push_back(conv("conv1x1_shortcut", 2, 8, 8, 48, 33, 1, 1, true, false));
  v.push_back(conv("conv1x1_no_bias_residual", 1, 5, 7, 17, 16, 1, 1, false, true));
  v.push_back(conv("conv3x3_s2_odd_c3_to_c5", 3, 7, 5, 3, 5, 3, 2, true, true));
  v.push_back(conv("conv3x3_one_pixel", 2, 1, 1, 16, 16, 3, 1, true, false));
  v.push_back(conv("conv3x3_many_k_tiles", 1, 6, 6, 136, 70, 3, 1, true, true));
  // SD 1.5/2.x/XL input channel counts on small latents: the 16-byte
  // cp.async path over 90-360 K steps (the 3-stage ring wraps many times),
  // the filter position carried across taps and rows of the 3x3 window.
  // Output channels cut where the emulator's time would grow past seconds.
  v.push_back(conv("conv3x3_sd_320_5x5_residual", 2, 5, 5, 320, 320, 3, 1, true, true));
  v.push_back(conv("conv3x3_s2_sd_640_7x7_to_128", 1, 7, 7, 640, 128, 3, 2, true, false));
  v.push_back(conv("conv3x3_sd_1280_3x3_to_64", 2, 3, 3, 1280, 64, 3, 1, true, false));
  v.push_back(conv("conv1x1_sdxl_960_to_640_shortcut", 2, 5, 5, 960, 640, 1, 1, true, false));
  // in_c 8 and 24: several taps inside one K step (the carry path wraps kx
  // and ky in the same step).
  v.push_back(conv("conv3x3_c8_taps_per_k_step", 2, 5, 6, 8, 16, 3, 1, true, false));
  v.push_back(conv("conv3x3_c24_taps_per_k_step", 1, 6, 5, 24, 20, 3, 2, false, true));

  v.push_back(linear("linear_proj_kv77", 2, 77, 64, 96, true, false));
  v.push_back(linear("linear_ragged_residual", 2, 33, 40, 24, true, true));
  v.push_back(linear("linear_no_bias", 1, 20, 48, 50, false, false));

  v.push_back(group_norm("group_norm_silu", 2, 63, 64, 32, true));
  v.push_back(group_norm("group_norm_wide", 2, 100, 96, 32, false));
  // SD's channel counts with 32 groups on small latents; the group norm
  // splits a (sample, group) into slabs of ~8192 elements (norm_layout.h),
  // so these take 2 slabs, the last one short. 320: 4 groups of 10 channels
  // per block; 640: 2 of 20; 1280: 1 of 40; 960 (up-block concat): 4 of 30.
  v.push_back(group_norm("group_norm_sd15_320_16x16", 2, 16 * 16, 320, 32, true));
  v.push_back(group_norm("group_norm_sd15_640_15x15", 2, 15 * 15, 640, 32, true));
  v.push_back(group_norm("group_norm_sd15_1280_15x15", 2, 15 * 15, 1280, 32, false));
  v.push_back(group_norm("group_norm_sdxl_960_10x10", 2, 10 * 10, 960, 32, true));
  // 40 slabs per group: lanes combining more than one slab, the shuffle tree.
  v.push_back(group_norm("group_norm_40_slabs", 2, 40000, 8, 4, false));
  // No 16-byte vectors (5 groups of 9 channels): scalar loads; and a block
  // row wider than the block (3 groups of 300), several columns per thread.
  v.push_back(group_norm("group_norm_scalar_c45_g5", 2, 37, 45, 5, true));
  v.push_back(group_norm("group_norm_scalar_wide_rows", 2, 5, 900, 3, false));
  v.push_back(layer_norm("layer_norm_320", 2, 15, 320));
  v.push_back(layer_norm("layer_norm_ragged", 1, 9, 33));
  // Qwen3's RMS norms: hidden rows (eps 1e-6) and per-head q/k norms over 128.
  v.push_back(rms_norm("rms_norm_hidden_640", 2, 9, 640, 1e-6f));
  v.push_back(rms_norm("rms_norm_qk_d128", 1, 45, 128, 1e-5f));
  // RoPE: Qwen3's rotate_half over 128-wide heads; Z-Image's interleaved pairs,
  // a padded stride.
  v.push_back(rope("rope_half_d128", 2, 13, 4, 128, false));
  v.push_back(rope("rope_interleaved_strided", 1, 21, 3, 32, true, 5));

  v.push_back(pointwise("silu_odd", OpKind::silu, 2, 1001));
  v.push_back(pointwise("gelu_odd", OpKind::gelu, 2, 1001));
  v.push_back(pointwise("quick_gelu_odd", OpKind::quick_gelu, 2, 1001));
  v.push_back(pointwise("add_odd", OpKind::add, 2, 1001));

  KernelCase g = pointwise("geglu_ragged", OpKind::geglu, 2, 17);
  g.inner = 40;
  v.push_back(g);
  KernelCase sw = pointwise("swiglu_ragged", OpKind::swiglu, 2, 17);
  sw.inner = 45;
  v.push_back(sw);
  // Z-Image's adaLN: per-sample scale and tanh gate over each sample's rows.
  KernelCase mod = pointwise("modulate_ragged", OpKind::modulate, 2, 13);
  mod.channels = 40;
  v.push_back(mod);
  KernelCase gate = pointwise("gated_residual_ragged", OpKind::gated_residual, 2, 11);
  gate.channels = 36;
  v.push_back(gate);
  KernelCase u = pointwise("upsample_odd", OpKind::upsample_nearest2x, 2, 0);
  u.h = 5, u.w = 3, u.channels = 20;
  v.push_back(u);
  KernelCase cat = pointwise("concat_ragged", OpKind::concat_channels, 2, 0);
  cat.hw = 15, cat.ca = 24, cat.cb = 20;
  v.push_back(cat);
  // Z-Image's patches (2x2, channel fastest) both ways, a non-square grid.
  for (const bool inverse : {false, true}) {
    KernelCase pc = pointwise(inverse ? "unpatchify_6x10" : "patchify_6x10", OpKind::patchify, 2, 0);
    pc.h = 6, pc.w = 10, pc.channels = 16, pc.patch = 2, pc.inverse = inverse;
    v.push_back(pc);
  }
  KernelCase t = pointwise("timestep_sd_320", OpKind::timestep_embedding, 3, 0);
  t.dim = 320, t.flip_sin_to_cos = true, t.shift = 0.0f;
  v.push_back(t);
  KernelCase t2 = pointwise("timestep_odd_dim", OpKind::timestep_embedding, 2, 0);
  t2.dim = 33, t2.flip_sin_to_cos = false, t2.shift = 1.0f;
  v.push_back(t2);
  return v;
}

}  // namespace

const std::vector<KernelCase>& cuda_emu_cases() {
  static const std::vector<KernelCase> cases = build();
  return cases;
}

}  // namespace farm::kernels::testing
