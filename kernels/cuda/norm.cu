// One block per (group, sample) for group norm and one per row for layer
// norm; each thread strides over the elements in a fixed order and the block
// sums in a fixed tree (block_sum), so a sample's statistics never depend on
// the batch. Three passes over global memory: mean, variance, normalise.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"
#include "kernels/cuda/norm.h"

namespace {

using farm::kernels::cuda::GroupNormParams;
using farm::kernels::cuda::LayerNormParams;
using farm::kernels::cuda_device::block_sum;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads) group_norm_kernel(const GroupNormParams p) {
  __shared__ float scratch[kThreads / 32];
  const int64_t g = blockIdx.x, b = blockIdx.y;
  const int64_t cpg = p.channels / p.groups;
  const int64_t count = p.hw * cpg;
  const T* x = static_cast<const T*>(p.x) + b * p.hw * p.channels + g * cpg;
  T* y = static_cast<T*>(p.y) + b * p.hw * p.channels + g * cpg;
  const T* gamma = static_cast<const T*>(p.gamma) + g * cpg;
  const T* beta = static_cast<const T*>(p.beta) + g * cpg;

  float s = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += kThreads) s += to_f32(x[(e / cpg) * p.channels + e % cpg]);
  const float mean = block_sum<kThreads>(s, scratch) / static_cast<float>(count);
  float sq = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += kThreads) {
    const float d = to_f32(x[(e / cpg) * p.channels + e % cpg]) - mean;
    sq += d * d;
  }
  const float inv_std = rsqrtf(block_sum<kThreads>(sq, scratch) / static_cast<float>(count) + p.eps);
  for (int64_t e = threadIdx.x; e < count; e += kThreads) {
    const int64_t c = e % cpg, i = (e / cpg) * p.channels + c;
    float v = (to_f32(x[i]) - mean) * inv_std * to_f32(gamma[c]) + to_f32(beta[c]);
    if (p.silu) v = v / (1.0f + __expf(-v));
    y[i] = from_f32<T>(v);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) layer_norm_kernel(const LayerNormParams p) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const T* x = static_cast<const T*>(p.x) + r * p.channels;
  T* y = static_cast<T*>(p.y) + r * p.channels;
  const T* gamma = static_cast<const T*>(p.gamma);
  const T* beta = static_cast<const T*>(p.beta);
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < p.channels; c += kThreads) s += to_f32(x[c]);
  const float mean = block_sum<kThreads>(s, scratch) / static_cast<float>(p.channels);
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < p.channels; c += kThreads) {
    const float d = to_f32(x[c]) - mean;
    sq += d * d;
  }
  const float inv_std = rsqrtf(block_sum<kThreads>(sq, scratch) / static_cast<float>(p.channels) + p.eps);
  for (int64_t c = threadIdx.x; c < p.channels; c += kThreads)
    y[c] = from_f32<T>((to_f32(x[c]) - mean) * inv_std * to_f32(gamma[c]) + to_f32(beta[c]));
}

template <class T>
void launch_group_norm(const GroupNormParams& p, cudaStream_t stream) {
  auto* kernel = &group_norm_kernel<T>;
  FARM_LAUNCH(kernel, dim3(static_cast<unsigned>(p.groups), static_cast<unsigned>(p.batch)), dim3(kThreads), 0,
              stream, p);
  FARM_CHECK_LAUNCH();
}

template <class T>
void launch_layer_norm(const LayerNormParams& p, cudaStream_t stream) {
  auto* kernel = &layer_norm_kernel<T>;
  FARM_LAUNCH(kernel, dim3(static_cast<unsigned>(p.rows)), dim3(kThreads), 0, stream, p);
  FARM_CHECK_LAUNCH();
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_group_norm(const GroupNormParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.hw == 0) return;
  if (p.groups <= 0 || p.channels % p.groups != 0) {
    std::fprintf(stderr, "invoke_group_norm: %lld channels not divisible into %lld groups\n",
                 static_cast<long long>(p.channels), static_cast<long long>(p.groups));
    std::abort();
  }
  if (p.dtype == DType::f16)
    launch_group_norm<__half>(p, stream);
  else
    launch_group_norm<__nv_bfloat16>(p, stream);
}

void invoke_layer_norm(const LayerNormParams& p, cudaStream_t stream) {
  if (p.rows == 0) return;
  if (p.dtype == DType::f16)
    launch_layer_norm<__half>(p, stream);
  else
    launch_layer_norm<__nv_bfloat16>(p, stream);
}


void append_norm_launch_info(std::vector<KernelLaunchInfo>& out) {
  for (const char* type : {"__half", "__nv_bfloat16"}) {
    out.push_back({std::string("group_norm_kernel<") + type + ">", kThreads, 0});
    out.push_back({std::string("layer_norm_kernel<") + type + ">", kThreads, 0});
  }
}

FARM_CUDA_NAMESPACE_END
