#include "kernels/check/sd_cases.h"

#include <cmath>

namespace farm::kernels::testing {
namespace {

KernelCase full(KernelCase c) {
  c.sd15 = true;  // "too slow for the plain reference": checked against cpu_ops
  return c;
}

KernelCase attention(const char* name, int64_t batch, int64_t heads, int64_t lq, int64_t lkv, int64_t d) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::attention;
  c.batch = batch;
  c.attn.heads = heads, c.attn.q_len = lq, c.attn.kv_len = lkv, c.attn.head_dim = d;
  c.attn.q_stride = c.attn.kv_stride = c.attn.out_stride = heads * d;
  c.attn.scale = 1.0f / std::sqrt(static_cast<float>(d));
  return full(c);
}

KernelCase conv(const char* name, int64_t batch, int64_t hw, int64_t cin, int64_t cout, int k, int stride,
                bool residual) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::conv2d;
  c.batch = batch;
  c.conv.in_h = c.conv.in_w = hw;
  c.conv.in_c = cin, c.conv.out_c = cout;
  c.conv.kernel = k, c.conv.stride = stride, c.conv.pad = k == 3 ? 1 : 0;
  c.bias = true;
  c.residual = residual;
  return full(c);
}

KernelCase linear(const char* name, int64_t batch, int64_t rows, int64_t in, int64_t out) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::linear;
  c.batch = batch;
  c.rows = rows, c.in = in, c.out = out;
  c.bias = true;
  return full(c);
}

KernelCase group_norm(const char* name, int64_t batch, int64_t hw, int64_t channels) {
  KernelCase c;
  c.name = name;
  c.op = OpKind::group_norm;
  c.batch = batch;
  c.hw = hw, c.channels = channels, c.groups = 32, c.silu = true;
  return full(c);
}

std::vector<KernelCase> build() {
  std::vector<KernelCase> v;
  for (const KernelCase& c : kernel_cases())
    if (c.sd15) v.push_back(c);
  // SD 1.5 levels 2-4: 32x32 (640 ch, head dim 80), 16x16 and 8x8 (1280 ch, 160).
  v.push_back(attention("sd15_attn_self_1024_h8_d80", 2, 8, 1024, 1024, 80));
  v.push_back(attention("sd15_attn_cross_256x77_h8_d160", 2, 8, 256, 77, 160));
  v.push_back(attention("sd15_attn_self_256_h8_d160", 2, 8, 256, 256, 160));
  // The VAE's mid-block attention at 512x512: 64x64 tokens, one head of 512.
  v.push_back(attention("sd15_vae_attn_self_4096_h1_d512", 1, 1, 4096, 4096, 512));
  // SD 2.x 768: 96x96 latents, 5 heads of 64 at 320 channels, 1024-wide text.
  v.push_back(conv("sd2_conv3x3_320_96x96", 2, 96, 320, 320, 3, 1, true));
  v.push_back(attention("sd2_attn_self_9216_h5_d64", 1, 5, 9216, 9216, 64));
  v.push_back(attention("sd2_attn_cross_9216x77_h5_d64", 2, 5, 9216, 77, 64));
  v.push_back(linear("sd2_linear_to_k_77x1024x320", 2, 77, 1024, 320));
  v.push_back(group_norm("sd2_group_norm_silu_96x96x320", 2, 96 * 96, 320));
  // SDXL 1024: 128x128 latents; attention only at 64x64 (10 heads) and 32x32 (20).
  v.push_back(conv("sdxl_conv3x3_320_128x128", 1, 128, 320, 320, 3, 1, true));
  v.push_back(conv("sdxl_conv3x3_s2_640_64x64", 1, 64, 640, 640, 3, 2, false));
  v.push_back(conv("sdxl_conv1x1_1920_640_64x64", 1, 64, 1920, 640, 1, 1, false));
  v.push_back(attention("sdxl_attn_self_4096_h10_d64", 2, 10, 4096, 4096, 64));
  v.push_back(attention("sdxl_attn_cross_4096x77_h10_d64", 2, 10, 4096, 77, 64));
  v.push_back(attention("sdxl_attn_self_1024_h20_d64", 2, 20, 1024, 1024, 64));
  v.push_back(linear("sdxl_linear_to_k_77x2048x1280", 2, 77, 2048, 1280));
  v.push_back(linear("sdxl_linear_geglu_proj_4096x640x5120", 1, 4096, 640, 5120));
  return v;
}

}  // namespace

const std::vector<KernelCase>& sd_full_size_cases() {
  static const std::vector<KernelCase> cases = build();
  return cases;
}

}  // namespace farm::kernels::testing
