// The op table: every op the models need, as plain functions over fp32 host
// buffers. Each backend (ref, cpu; cuda later) fills one table; the models
// call through it and never know which backend runs.
//
// Layout rules (ARCHITECTURE.md): activations are NHWC, so a [B, H, W, C]
// feature map is also a [B, H*W, C] token sequence. Weights come in the
// layouts named per op (the loader converts once at load).
//
// Batch invariance (invariant 1): an output element must not depend on how
// many other samples share the call. Ops take `batch` explicitly so a backend
// can run each sample with the same shapes whatever the batch size.
#pragma once

#include <cstdint>

namespace farm::kernels {

struct Conv2dArgs {
  int64_t batch = 1, in_h = 0, in_w = 0, in_c = 0, out_c = 0;
  int kernel = 3, stride = 1, pad = 1;  // square kernel, symmetric zero padding
  int64_t out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  int64_t out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
};

struct AttentionArgs {
  int64_t batch = 1, heads = 1, q_len = 0, kv_len = 0, head_dim = 0;
  // Elements between consecutive tokens of q, of k/v and of out. Head h of
  // token t starts at t * stride + h * head_dim, so fused or interleaved
  // projections need no copy.
  int64_t q_stride = 0, kv_stride = 0, out_stride = 0;
  float scale = 1.0f;   // usually 1/sqrt(head_dim)
  bool causal = false;  // CLIP's and Qwen3's text encoders mask future tokens
  // Grouped-query attention (Qwen3: 32 query heads share 8 k/v heads): k and
  // v hold kv_heads heads per token, query head h reads k/v head
  // h / (heads / kv_heads). 0 means kv_heads = heads.
  int64_t kv_heads = 0;
  int64_t kv_head_count() const { return kv_heads > 0 ? kv_heads : heads; }
  int64_t kv_head(int64_t h) const { return h / (heads / kv_head_count()); }
};

// Rotary position embedding over `rows` tokens of `heads` heads of head_dim
// (head h of token t at t * stride + h * head_dim), rotated in place by
// table[t, i] = (cos θ_ti, sin θ_ti), i < head_dim / 2: the pair (a, b)
// becomes (a·cos − b·sin, b·cos + a·sin). Pairs are (i, i + head_dim/2)
// (rotate_half: Llama, Qwen3) or (2i, 2i + 1) when `interleaved` (complex
// multiplication: FLUX, Z-Image's DiT). The caller builds the table, so any
// position scheme (1-D, 3-axis) is one op.
struct RopeArgs {
  int64_t rows = 0, heads = 1, head_dim = 0, stride = 0;
  bool interleaved = false;
};

struct Ops {
  const char* name;

  // y[B,Ho,Wo,Cout] = conv(x[B,H,W,Cin], w[Cout,k,k,Cin]) + bias[Cout]
  //                   (+ residual[B,Ho,Wo,Cout] when non-null). bias may be null.
  void (*conv2d)(const Conv2dArgs& a, const float* x, const float* w, const float* bias,
                 const float* residual, float* y);

  // y[B*rows, out] = x[B*rows, in] · w[out, in]^T + bias[out] (+ residual).
  // bias and residual may be null. `rows` is per sample.
  void (*linear)(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x,
                 const float* w, const float* bias, const float* residual, float* y);

  // out[b, t, h*D + d] = softmax(scale · q k^T [+ causal mask]) v, per (b, h).
  void (*attention)(const AttentionArgs& a, const float* q, const float* k, const float* v,
                    float* out);

  // Group norm over x[B, HW, C] with `groups` groups of C/groups channels,
  // affine gamma/beta[C]; then SiLU when `silu`. y may alias x.
  void (*group_norm)(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps,
                     const float* x, const float* gamma, const float* beta, bool silu, float* y);

  // Layer norm over the last dim of x[rows, C]. y may alias x.
  void (*layer_norm)(int64_t rows, int64_t channels, float eps, const float* x,
                     const float* gamma, const float* beta, float* y);

  // RMS norm over the last dim of x[rows, C] (T5/Llama/Qwen): y = x ·
  // rsqrt(mean(x²) + eps) · gamma, statistics in fp32. y may alias x.
  void (*rms_norm)(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y);

  // Rotary embedding in place on x (RopeArgs); table [rows, head_dim/2, 2].
  void (*rope)(const RopeArgs& a, const float* table, float* x);

  // Elementwise, n elements, y may alias x.
  void (*silu)(int64_t n, const float* x, float* y);
  void (*gelu)(int64_t n, const float* x, float* y);        // exact (erf)
  void (*quick_gelu)(int64_t n, const float* x, float* y);  // x · sigmoid(1.702 x)
  void (*add)(int64_t n, const float* a, const float* b, float* y);

  // GEGLU: x[rows, 2*inner] = [hidden | gate]; y[rows, inner] = hidden · gelu(gate).
  void (*geglu)(int64_t rows, int64_t inner, const float* x, float* y);

  // SwiGLU: x[rows, 2*inner] = [gate | up]; y[rows, inner] = silu(gate) · up
  // (Llama/Qwen MLPs, Z-Image's FFN: w2(silu(w1 h) · w3 h) with [w1 | w3] fused).
  void (*swiglu)(int64_t rows, int64_t inner, const float* x, float* y);

  // adaLN without shift (Z-Image's blocks and final layer): y[b, i, c] =
  // x[b, i, c] · (1 + scale[b, c]) over x[B, rows, C], scale [B, C]. y may alias x.
  void (*modulate)(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y);
  // Gated residual: h[b, i, c] += tanh(gate[b, c]) · y[b, i, c]; gate [B, C].
  void (*gated_residual)(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h);

  // Nearest-neighbour 2× upsample, x[B,H,W,C] -> y[B,2H,2W,C].
  void (*upsample_nearest2x)(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x,
                             float* y);

  // Channel concat: y[B,HW,Ca+Cb] = [a[B,HW,Ca] | b[B,HW,Cb]].
  void (*concat_channels)(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb,
                          const float* b, float* y);

  // DiT patches: image x[B,H,W,C] -> y[B, (H/p)·(W/p), p·p·C], token (i, j)
  // holding its p×p patch's values in (ph, pw, c) order, the channel fastest
  // (Z-Image's patchify); inverse: patches x -> image y. H, W multiples of p.
  void (*patchify)(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x,
                   float* y);

  // Sinusoidal timestep embedding as diffusers' get_timestep_embedding:
  // half = dim/2, freq_i = exp(-ln(max_period) · i / (half - shift)),
  // emb = [sin(t·freq) | cos(t·freq)], swapped to [cos | sin] when flip_sin_to_cos.
  // t[batch] -> y[batch, dim].
  void (*timestep_embedding)(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                             float downscale_freq_shift, float max_period, float* y);

  // Optional (null: upsample, then conv2d). conv2d of x upsampled 2×
  // (nearest), x read in place: `a` describes the upsampled input, x holds
  // (in_h / 2) × (in_w / 2). The bits of upsampling first.
  void (*conv2d_upsampled2x)(const Conv2dArgs& a, const float* x, const float* w, const float* bias,
                             float* y) = nullptr;
  // Optional (null: linear into [batch·rows, 2·inner], then geglu).
  // geglu(linear(x)) with w [2·inner, in], the projection never written.
  void (*linear_geglu)(int64_t batch, int64_t rows, int64_t in, int64_t inner, const float* x, const float* w,
                       const float* bias, float* y) = nullptr;
};

const Ops& ref_ops();  // kernels/ref: plain loops, the oracle
const Ops& cpu_ops();  // kernels/cpu: OpenBLAS + threads

}  // namespace farm::kernels
