// The case list. Golden cases mirror CASES in
// tools/reference/make_kernel_reference.py (same names and shapes); the
// rest exercise the cpu path's tiling and layouts; sd15 cases are the
// full-size Stable Diffusion 1.5 shapes (512×512 image, 64×64 latent).
//
// Tolerances are |got - want| <= atol + rtol·|want|, set a few times above
// the error measured on an x86-64 AVX-512 machine (see the report printed by
// the tests) so that a wrong index or a dropped term fails by orders of
// magnitude while summation-order noise passes.
#include "kernels/check/kernel_cases.h"

#include <cmath>

namespace farm::kernels::testing {
namespace {

// fp32 dot products of length K reorder into errors ~ sqrt(K)·2^-24·|terms|;
// inputs are O(1) and weights scaled by 1/sqrt(fan_in), so outputs are O(1).
constexpr Tolerance kGemmTol{1e-5, 1e-5};
constexpr Tolerance kNormTol{2e-5, 2e-5};       // mean/var over up to 40k elements
constexpr Tolerance kPointwiseTol{1e-6, 1e-6};  // a few ulp of expf/erfcf
// torch's fp32 gelu forms 1 + erf(x/√2), which cancels for x << 0: it is
// 1.1e-6 off the exact value at x = -3.5 (ref, using erfc, is 1e-7 off).
constexpr Tolerance kTorchGeluTol{3e-6, 1e-6};
constexpr Tolerance kExact{0.0, 0.0};  // data movement: bytes equal
// torch and glibc expf may differ by an ulp in freq; t·freq reaches ~1000 rad,
// so sin/cos of it can move by ~1000 · 2^-24 ≈ 6e-5.
constexpr Tolerance kTimestepTol{3e-4, 0.0};

KernelCase conv(std::string name, int64_t b, int64_t h, int64_t w, int64_t ci, int64_t co, int k,
                int s, int pad, bool bias = true, bool residual = false) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::conv2d;
  c.batch = b;
  c.conv.in_h = h;
  c.conv.in_w = w;
  c.conv.in_c = ci;
  c.conv.out_c = co;
  c.conv.kernel = k;
  c.conv.stride = s;
  c.conv.pad = pad;
  c.bias = bias;
  c.residual = residual;
  c.vs_torch = c.vs_ref = kGemmTol;
  return c;
}

KernelCase linear(std::string name, int64_t b, int64_t rows, int64_t in, int64_t out, bool bias,
                  bool residual) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::linear;
  c.batch = b;
  c.rows = rows;
  c.in = in;
  c.out = out;
  c.bias = bias;
  c.residual = residual;
  c.vs_torch = c.vs_ref = kGemmTol;
  return c;
}

// Strides of 0 mean packed (heads · head_dim).
KernelCase attn(std::string name, int64_t b, int64_t heads, int64_t lq, int64_t lkv, int64_t d,
                int64_t q_stride = 0, int64_t kv_stride = 0, bool causal = false,
                int64_t out_stride = 0) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::attention;
  c.batch = b;
  c.attn.heads = heads;
  c.attn.q_len = lq;
  c.attn.kv_len = lkv;
  c.attn.head_dim = d;
  c.attn.q_stride = q_stride ? q_stride : heads * d;
  c.attn.kv_stride = kv_stride ? kv_stride : heads * d;
  c.attn.out_stride = out_stride ? out_stride : heads * d;
  c.attn.scale = 1.0f / std::sqrt(static_cast<float>(d));
  c.attn.causal = causal;
  c.vs_torch = c.vs_ref = kGemmTol;
  return c;
}

KernelCase group_norm(std::string name, int64_t b, int64_t hw, int64_t ch, int64_t groups,
                      float eps, bool silu) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::group_norm;
  c.batch = b;
  c.hw = hw;
  c.channels = ch;
  c.groups = groups;
  c.eps = eps;
  c.silu = silu;
  c.vs_torch = c.vs_ref = kNormTol;
  return c;
}

KernelCase layer_norm(std::string name, int64_t b, int64_t rows, int64_t ch, float eps) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::layer_norm;
  c.batch = b;
  c.rows = rows;
  c.channels = ch;
  c.eps = eps;
  c.vs_torch = c.vs_ref = kNormTol;
  return c;
}

KernelCase rms_norm(std::string name, int64_t b, int64_t rows, int64_t ch, float eps) {
  KernelCase c = layer_norm(std::move(name), b, rows, ch, eps);
  c.op = OpKind::rms_norm;
  return c;
}

// Strides of 0 mean packed (heads · head_dim).
KernelCase rope(std::string name, int64_t b, int64_t rows, int64_t heads, int64_t d, bool interleaved,
                int64_t stride = 0) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::rope;
  c.batch = b;
  c.rope.rows = rows;
  c.rope.heads = heads;
  c.rope.head_dim = d;
  c.rope.stride = stride ? stride : heads * d;
  c.rope.interleaved = interleaved;
  c.vs_torch = c.vs_ref = kPointwiseTol;
  return c;
}

// Grouped-query attention: heads query heads over kv_heads k/v heads.
KernelCase gqa(std::string name, int64_t b, int64_t heads, int64_t kv_heads, int64_t lq, int64_t lkv, int64_t d,
               bool causal) {
  KernelCase c = attn(std::move(name), b, heads, lq, lkv, d, 0, kv_heads * d, causal);
  c.attn.kv_heads = kv_heads;
  return c;
}

KernelCase pointwise(std::string name, OpKind op, int64_t b, int64_t n) {
  KernelCase c;
  c.name = std::move(name);
  c.op = op;
  c.batch = b;
  c.rows = n;
  c.vs_torch = c.vs_ref = kPointwiseTol;
  return c;
}

KernelCase gelu(std::string name, int64_t b, int64_t n) {
  KernelCase c = pointwise(std::move(name), OpKind::gelu, b, n);
  c.vs_torch = kTorchGeluTol;
  return c;
}

KernelCase geglu(std::string name, int64_t b, int64_t rows, int64_t inner) {
  KernelCase c = gelu(std::move(name), b, rows);
  c.op = OpKind::geglu;
  c.inner = inner;
  return c;
}

KernelCase swiglu(std::string name, int64_t b, int64_t rows, int64_t inner) {
  KernelCase c = pointwise(std::move(name), OpKind::swiglu, b, rows);
  c.inner = inner;
  return c;
}

// adaLN: modulate and gated residual over [b, rows, channels] with per-sample [channels].
KernelCase adaln(std::string name, OpKind op, int64_t b, int64_t rows, int64_t ch) {
  KernelCase c = pointwise(std::move(name), op, b, rows);
  c.channels = ch;
  return c;
}

KernelCase upsample(std::string name, int64_t b, int64_t h, int64_t w, int64_t ch) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::upsample_nearest2x;
  c.batch = b;
  c.h = h;
  c.w = w;
  c.channels = ch;
  c.vs_torch = c.vs_ref = kExact;
  return c;
}

// Z-Image's patches of a [h, w, ch] latent (no torch golden: data movement,
// checked cpu = ref bytes here and ref against diffusers through the DiT).
KernelCase patches(std::string name, int64_t b, int64_t h, int64_t w, int64_t ch, int64_t p, bool inverse) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::patchify;
  c.batch = b;
  c.h = h, c.w = w, c.channels = ch, c.patch = p, c.inverse = inverse;
  c.vs_torch = c.vs_ref = kExact;
  return c;
}

KernelCase concat(std::string name, int64_t b, int64_t hw, int64_t ca, int64_t cb) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::concat_channels;
  c.batch = b;
  c.hw = hw;
  c.ca = ca;
  c.cb = cb;
  c.vs_torch = c.vs_ref = kExact;
  return c;
}

KernelCase timestep(std::string name, int64_t b, int64_t dim, bool flip, float shift) {
  KernelCase c;
  c.name = std::move(name);
  c.op = OpKind::timestep_embedding;
  c.batch = b;
  c.dim = dim;
  c.flip_sin_to_cos = flip;
  c.shift = shift;
  c.max_period = 10000.0f;
  c.vs_torch = kTimestepTol;
  c.vs_ref = kPointwiseTol;
  return c;
}

KernelCase golden(KernelCase c) {
  c.golden = true;
  return c;
}

KernelCase sd15(KernelCase c) {
  c.sd15 = true;
  return c;
}

std::vector<KernelCase> make_cases() {
  std::vector<KernelCase> cases = {
      // Golden cases: same names and shapes as make_kernel_reference.py.
      golden(conv("conv_k3_s1_odd", 2, 7, 5, 3, 5, 3, 1, 1, true, true)),
      golden(conv("conv_k3_s2_down", 1, 9, 8, 6, 7, 3, 2, 1)),
      golden(conv("conv_k3_p0_nobias", 1, 6, 5, 4, 2, 3, 1, 0, false)),
      golden(conv("conv_k3_c32", 1, 16, 16, 32, 24, 3, 1, 1, true, true)),
      golden(conv("conv_k1_s1", 2, 5, 3, 9, 11, 1, 1, 0)),
      golden(conv("conv_k1_s2", 1, 7, 7, 4, 3, 1, 2, 0)),
      golden(linear("linear_bias_residual", 2, 3, 17, 13, true, true)),
      golden(linear("linear_nobias", 1, 5, 64, 40, false, false)),
      golden(linear("linear_320", 2, 7, 320, 96, true, false)),
      golden(attn("attn_self_d40", 2, 2, 33, 33, 40)),
      golden(attn("attn_cross_d40_kv77", 2, 2, 20, 77, 40, 0, 2 * 40 + 8)),
      golden(attn("attn_cross_d64_kv77", 1, 3, 50, 77, 64)),
      golden(attn("attn_causal_d64_fused", 1, 2, 77, 77, 64, 3 * 2 * 64, 3 * 2 * 64, true)),
      golden(attn("attn_large_logits", 1, 2, 16, 24, 40)),
      golden(group_norm("group_norm_c64", 2, 16, 64, 32, 1e-5f, false)),
      golden(group_norm("group_norm_silu_c96", 2, 15, 96, 32, 1e-6f, true)),
      golden(group_norm("group_norm_silu_offset", 1, 64, 128, 32, 1e-6f, true)),
      golden(layer_norm("layer_norm_c40", 1, 14, 40, 1e-5f)),
      golden(layer_norm("layer_norm_c320_offset", 1, 5, 320, 1e-5f)),
      golden(pointwise("silu", OpKind::silu, 1, 1001)),
      golden(gelu("gelu", 1, 1001)),
      golden(pointwise("quick_gelu", OpKind::quick_gelu, 1, 1001)),
      golden(pointwise("add", OpKind::add, 1, 1001)),
      golden(geglu("geglu", 1, 6, 40)),
      golden(upsample("upsample_nearest2x", 2, 3, 5, 4)),
      golden(concat("concat_channels", 2, 6, 3, 5)),
      golden(timestep("timestep_sd15", 4, 320, true, 0.0f)),
      golden(timestep("timestep_noflip_shift1", 4, 320, false, 1.0f)),
      golden(timestep("timestep_odd_dim", 3, 31, true, 1.0f)),
      // Qwen3 / Z-Image ops (appended: earlier goldens keep their random draws).
      golden(rms_norm("rms_norm_c40", 1, 14, 40, 1e-6f)),
      golden(rms_norm("rms_norm_qk_d128_offset", 1, 24, 128, 1e-5f)),
      golden(rope("rope_half_qwen3", 1, 9, 3, 16, false)),
      golden(rope("rope_half_strided", 1, 7, 2, 8, false, 2 * 8 + 3)),
      golden(rope("rope_interleaved_zimage", 1, 10, 2, 32, true)),
      golden(swiglu("swiglu", 1, 6, 40)),
      golden(gqa("attn_gqa_causal_d32", 1, 4, 2, 37, 37, 32, true)),
      golden(gqa("attn_gqa_cross_d16", 2, 6, 2, 20, 33, 16, false)),
      golden(adaln("modulate", OpKind::modulate, 2, 7, 24)),
      golden(adaln("gated_residual", OpKind::gated_residual, 2, 5, 40)),

      patches("cpu_patchify_zimage_128x96", 2, 128, 96, 16, 2, false),
      patches("cpu_unpatchify_zimage_128x96", 2, 128, 96, 16, 2, true),

      // cpu path: im2col tiling and strides, plain-GEMM 1×1, gemv-shaped
      // linear, query tiles with a ragged last tile, key blocks, strided outputs.
      conv("cpu_conv_k3_s2_c64", 2, 20, 18, 64, 48, 3, 2, 1),
      conv("cpu_conv_k1_gemm_residual", 2, 12, 10, 96, 80, 1, 1, 0, true, true),
      conv("cpu_conv_k3_im2col_tiles", 1, 64, 64, 128, 16, 3, 1, 1, true, true),
      // the AVX-512 implicit GEMM (f32_gemm.h): a ragged last 64-column
      // panel (70 = 64 + 6), Cin across a 128-k chunk, bands of 512 rows that
      // cross samples (3 × 23² pixels), a 1×1 with 3 outputs.
      conv("cpu_conv_k3_panels_chunks", 2, 9, 13, 200, 70, 3, 1, 1, true, true),
      conv("cpu_conv_k3_bands_cross_samples", 3, 23, 23, 8, 130, 3, 1, 1),
      conv("cpu_conv_k1_out3", 1, 30, 31, 64, 3, 1, 1, 0),
      linear("cpu_linear_rows1", 3, 1, 1280, 320, true, false),
      linear("cpu_linear_77x768", 2, 77, 768, 320, false, true),
      // long k (≥ 1024): bands of 128 rows walking k 256 at a time, a
      // ragged last 128-k chunk (1100 = 8 · 128 + 76) and column panel.
      linear("cpu_linear_long_k_bands", 2, 150, 1100, 70, true, true),
      // many rows per sample (SD's 64² and 32² levels run here too): bands
      // of 512 rows that cross samples (2 × 700), three 64-column panels
      // with a ragged last one (150 = 2 · 64 + 22), bias and residual.
      linear("cpu_linear_many_rows", 2, 700, 96, 150, true, true),
      attn("cpu_attn_query_tiles_d40", 2, 2, 300, 300, 40),
      attn("cpu_attn_causal_strided_out", 1, 3, 100, 100, 64, 3 * 3 * 64, 3 * 3 * 64, true,
           3 * 64 + 5),
      attn("cpu_attn_clip_causal_h12", 1, 12, 77, 77, 64, 0, 0, true),
      // more keys than one block of the bf16 flash loop (512): two full blocks
      // and a ragged one; causal rows that see none of a later block.
      attn("cpu_attn_key_blocks_d40", 1, 2, 150, 1100, 40),
      attn("cpu_attn_key_blocks_causal_d64", 1, 2, 700, 700, 64, 0, 0, true),
      // the fp32 flash path: head dims past one 64-column panel, a ragged
      // last key panel and query tile.
      attn("cpu_attn_flash_d80", 2, 2, 130, 700, 80),
      attn("cpu_attn_flash_d160_k577", 1, 1, 20, 577, 160),
      group_norm("cpu_group_norm_silu_32x32x320", 2, 32 * 32, 320, 32, 1e-6f, true),
      layer_norm("cpu_layer_norm_300x320", 2, 300, 320, 1e-5f),
      pointwise("cpu_silu_odd", OpKind::silu, 2, 100003),
      gelu("cpu_gelu_odd", 2, 100003),
      pointwise("cpu_quick_gelu_odd", OpKind::quick_gelu, 2, 100003),
      pointwise("cpu_add_odd", OpKind::add, 2, 100003),
      geglu("cpu_geglu_77x1280", 2, 77, 1280),
      // Qwen3-4B's text-encoder shapes (hidden 2560, q/k norms over 128,
      // 32 query heads on 8 k/v heads) at a short prompt.
      rms_norm("cpu_rms_norm_40x2560", 2, 40, 2560, 1e-6f),
      rms_norm("cpu_rms_norm_qk_1280x128", 1, 40 * 32, 128, 1e-6f),
      rope("cpu_rope_half_40x32x128", 1, 40, 32, 128, false),
      rope("cpu_rope_interleaved_300x4x128", 2, 300, 4, 128, true),
      swiglu("cpu_swiglu_40x9728", 2, 40, 9728),
      // Z-Image's adaLN at a small image: 288 unified rows of its 3840 channels.
      adaln("cpu_modulate_288x3840", OpKind::modulate, 2, 288, 3840),
      adaln("cpu_gated_residual_288x3840", OpKind::gated_residual, 2, 288, 3840),
      gqa("cpu_attn_gqa_causal_h32_kv8", 1, 32, 8, 40, 40, 128, true),
      gqa("cpu_attn_gqa_flash_h4_kv2", 1, 4, 2, 100, 700, 64, false),
      upsample("cpu_upsample_16x16x64", 2, 16, 16, 64),
      concat("cpu_concat_256_64_32", 2, 256, 64, 32),

      // SD 1.5 at 512×512, one sample (batch-invariant kernels cost the same
      // per sample at any batch).
      sd15(conv("sd15_conv3x3_320_64x64", 1, 64, 64, 320, 320, 3, 1, 1)),
      sd15(conv("sd15_conv3x3_640_32x32", 1, 32, 32, 640, 640, 3, 1, 1)),
      sd15(conv("sd15_conv3x3_1280_16x16", 1, 16, 16, 1280, 1280, 3, 1, 1)),
      sd15(conv("sd15_conv3x3_s2_320_64x64", 1, 64, 64, 320, 320, 3, 2, 1)),
      sd15(conv("sd15_conv1x1_960_320_64x64", 1, 64, 64, 960, 320, 1, 1, 0)),
      sd15(linear("sd15_linear_4096x320x320", 1, 4096, 320, 320, true, false)),
      sd15(linear("sd15_linear_geglu_proj_4096x320x2560", 1, 4096, 320, 2560, true, false)),
      sd15(linear("sd15_linear_ff_out_4096x1280x320", 1, 4096, 1280, 320, true, true)),
      sd15(attn("sd15_attn_self_4096_h8_d40", 1, 8, 4096, 4096, 40)),
      sd15(attn("sd15_attn_cross_4096x77_h8_d40", 1, 8, 4096, 77, 40)),
      sd15(group_norm("sd15_group_norm_silu_64x64x320", 1, 4096, 320, 32, 1e-5f, true)),
      sd15(layer_norm("sd15_layer_norm_4096x320", 1, 4096, 320, 1e-5f)),
      sd15(geglu("sd15_geglu_4096x1280", 1, 4096, 1280)),
      sd15(pointwise("sd15_silu_64x64x320", OpKind::silu, 1, 4096 * 320)),
      sd15(upsample("sd15_upsample_32x32x640", 1, 32, 32, 640)),
      sd15(concat("sd15_concat_64x64_320_320", 1, 4096, 320, 320)),
  };
  // Inputs scaled so that scale·q·k reaches ~±100: exp() overflows unless the
  // softmax subtracts the row max.
  for (auto& c : cases)
    if (c.name == "attn_large_logits") {
      c.attn.scale = 1.0f;
      c.amplitude = 6.0f;
    }
  return cases;
}

}  // namespace

const std::vector<KernelCase>& kernel_cases() {
  static const std::vector<KernelCase> cases = make_cases();
  return cases;
}

}  // namespace farm::kernels::testing
