// Attention for any head dim (the SD VAE's single head of width 512, and
// whatever a future model brings past the flash kernel's 160): one block per
// (sample, head, query row). The query row and the fp32 output accumulator
// sit in shared memory; keys are processed in chunks of kChunk with the
// online softmax (running max m, sum l), scores in fp32, never rounded to
// 16 bits. No tensor cores: this is the path for shapes the flash kernel does
// not compile, chosen by invoke_attention from the head dim (never an abort).
//
// Batch invariance: every reduction's order depends only on kv_len and
// head_dim (fixed block size, fixed chunking).
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"

namespace {

using farm::kernels::cuda::AttentionParams;
using farm::kernels::cuda::DType;
using farm::kernels::cuda_device::block_sum;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

constexpr int kThreads = 128;
constexpr int kChunk = 128;  // keys per chunk: one score per thread

__device__ __forceinline__ float block_max(float v, float* scratch) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float m = scratch[0];
  for (int w = 1; w < kThreads / 32; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

template <class T>
__global__ void __launch_bounds__(kThreads) attention_rows_kernel(AttentionParams p) {
  FARM_DYNAMIC_SHARED(float, smem);
  const int D = static_cast<int>(p.head_dim);
  float* qrow = smem;            // [D]
  float* acc = smem + D;         // [D]
  float* prob = smem + 2 * D;    // [kChunk]
  float* scratch = prob + kChunk;  // [kThreads / 32]
  const int64_t qi = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const T* q = static_cast<const T*>(p.q) + (b * p.q_len + qi) * p.q_stride + h * D;
  const int64_t kv_h = farm::kernels::cuda::attention_kv_head(p, h);
  const T* k = static_cast<const T*>(p.k) + b * p.kv_len * p.kv_stride + kv_h * D;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_len * p.kv_stride + kv_h * D;
  T* out = static_cast<T*>(p.out) + (b * p.q_len + qi) * p.out_stride + h * D;
  for (int d = threadIdx.x; d < D; d += kThreads) {
    qrow[d] = to_f32(q[d]) * p.scale;
    acc[d] = 0.0f;
  }
  __syncthreads();
  const int64_t kv_end = p.causal ? (qi + 1 < p.kv_len ? qi + 1 : p.kv_len) : p.kv_len;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < kv_end; j0 += kChunk) {
    const int64_t j = j0 + threadIdx.x;
    float s = -INFINITY;
    if (j < kv_end) {
      s = 0.0f;
      const T* kr = k + j * p.kv_stride;
      for (int d = 0; d < D; ++d) s += qrow[d] * to_f32(kr[d]);
    }
    const float m_new = fmaxf(m, block_max(s, scratch));
    const float e = j < kv_end ? __expf(s - m_new) : 0.0f;
    const float rescale = __expf(m - m_new);  // 0 on the first chunk (m = -inf)
    l = l * rescale + block_sum<kThreads>(e, scratch);
    m = m_new;
    prob[threadIdx.x] = e;
    __syncthreads();
    const int n = static_cast<int>(kv_end - j0 < kChunk ? kv_end - j0 : kChunk);
    for (int d = threadIdx.x; d < D; d += kThreads) {
      float a = acc[d] * rescale;
      for (int t = 0; t < n; ++t) a += prob[t] * to_f32(v[(j0 + t) * p.kv_stride + d]);
      acc[d] = a;
    }
    __syncthreads();
  }
  const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
  for (int d = threadIdx.x; d < D; d += kThreads) out[d] = from_f32<T>(acc[d] * inv_l);
}

int smem_bytes(int64_t head_dim) { return static_cast<int>((2 * head_dim + kChunk + kThreads / 32) * 4); }

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

bool attention_rows_supports_head_dim(int64_t head_dim) {
  return head_dim >= 1 && smem_bytes(head_dim) <= 96 * 1024;
}

void invoke_attention_rows(const AttentionParams& p, cudaStream_t stream) {
  if (p.q_len == 0 || p.batch == 0 || p.heads == 0) return;
  const int bytes = smem_bytes(p.head_dim);
  const dim3 grid(static_cast<unsigned>(p.q_len), static_cast<unsigned>(p.heads), static_cast<unsigned>(p.batch));
  if (p.dtype == DType::f16) {
    auto* kernel = &attention_rows_kernel<__half>;
    FARM_CHECK_CUDA(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    FARM_LAUNCH(kernel, grid, dim3(kThreads), bytes, stream, p);
  } else {
    auto* kernel = &attention_rows_kernel<__nv_bfloat16>;
    FARM_CHECK_CUDA(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    FARM_LAUNCH(kernel, grid, dim3(kThreads), bytes, stream, p);
  }
  FARM_CHECK_LAUNCH();
}

void append_attention_rows_launch_info(std::vector<KernelLaunchInfo>& out) {
  for (const char* type : {"__half", "__nv_bfloat16"})
    out.push_back({std::string("attention_rows_kernel<") + type + ">", kThreads, smem_bytes(512)});
}

FARM_CUDA_NAMESPACE_END
