// Flash attention forward: out = softmax(scale · q k^T [+ causal mask]) v per
// (sample, head), without materialising the [q_len, kv_len] score matrix.
// Plain header: included by non-nvcc code.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

// Device pointers to `dtype` elements. Head h of token t of sample b starts at
// b·len·stride + t·stride + h·head_dim (len = q_len for q/out, kv_len for k/v).
struct AttentionParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t batch = 1, heads = 1, q_len = 0, kv_len = 0, head_dim = 0;
  int64_t q_stride = 0, kv_stride = 0, out_stride = 0;
  float scale = 1.0f;
  bool causal = false;  // query i sees keys 0..i (torch's is_causal)
  // Grouped-query attention: k/v hold kv_heads heads (0: heads); query head h
  // reads k/v head h / (heads / kv_heads).
  int64_t kv_heads = 0;
  DType dtype = DType::f16;
};

// The k/v head a query head reads (grouped-query attention).
#if defined(__CUDACC__)
__host__ __device__
#endif
inline int64_t attention_kv_head(const AttentionParams& p, int64_t h) {
  return p.kv_heads > 0 ? h / (p.heads / p.kv_heads) : h;
}

// The flash kernel (tensor cores) is tuned for head dims 40, 64, 80, 160
// (SD 1.x: 40/80/160, SD 2.x/XL: 64); any head dim up to 160 runs on it, zero
// padded. Wider heads (the SD VAE's single head of 512) run on the row kernel
// of attention_rows.cu: no tensor cores, fp32 scores. True for every head dim
// one of the two takes (up to ~12,000).
bool attention_supports_head_dim(int64_t head_dim);
void invoke_attention(const AttentionParams& p, cudaStream_t stream);

// The row kernel alone (tests and benchmarks reach it directly).
bool attention_rows_supports_head_dim(int64_t head_dim);
void invoke_attention_rows(const AttentionParams& p, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
