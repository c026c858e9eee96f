// Grid-stride gather kernels, fp32 math on 16-bit storage; each output element
// is computed alone (batch invariant by construction).
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/gather.h"
#include "kernels/cuda/launch_info.h"

namespace {

using farm::kernels::cuda::DType;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

using farm::kernels::cuda_device::first_index;
using farm::kernels::cuda_device::grid_for;
using farm::kernels::cuda_device::grid_stride;
using farm::kernels::cuda_device::with_type;
constexpr int kThreads = farm::kernels::cuda_device::kGridThreads;

template <class T>
__global__ void embed_tokens_kernel(int64_t rows, int64_t len, int64_t dim, const int32_t* ids, const T* tokens,
                                    const T* positions, T* y) {
  for (int64_t i = first_index(); i < rows * dim; i += grid_stride()) {
    const int64_t r = i / dim, d = i % dim;
    const float position = positions != nullptr ? to_f32(positions[(r % len) * dim + d]) : 0.0f;
    y[i] = from_f32<T>(to_f32(tokens[static_cast<int64_t>(ids[r]) * dim + d]) + position);
  }
}

template <class T>
__global__ void upsample_nearest_kernel(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow,
                                        float sh, float sw, const T* x, T* y) {
  for (int64_t i = first_index(); i < batch * oh * ow * c; i += grid_stride()) {
    const int64_t ch = i % c, ox = (i / c) % ow, oy = (i / (c * ow)) % oh, b = i / (c * ow * oh);
    int64_t sy = static_cast<int64_t>(floorf(static_cast<float>(oy) * sh));
    int64_t sx = static_cast<int64_t>(floorf(static_cast<float>(ox) * sw));
    sy = sy < h - 1 ? sy : h - 1;
    sx = sx < w - 1 ? sx : w - 1;
    y[i] = x[((b * h + sy) * w + sx) * c + ch];
  }
}

template <class T>
__global__ void add_channel_bias_kernel(int64_t batch, int64_t pixels, int64_t channels, T* h, const T* v) {
  for (int64_t i = first_index(); i < batch * pixels * channels; i += grid_stride()) {
    const int64_t b = i / (pixels * channels), c = i % channels;
    h[i] = from_f32<T>(to_f32(h[i]) + to_f32(v[b * channels + c]));
  }
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_embed_tokens(int64_t batch, int64_t len, int64_t dim, const int32_t* ids, const void* tokens,
                         const void* positions, void* y, DType dtype, cudaStream_t stream) {
  const int64_t n = batch * len * dim;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &embed_tokens_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch * len, len, dim, ids,
                static_cast<const T*>(tokens), static_cast<const T*>(positions), static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_upsample_nearest(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, const void* x,
                             void* y, DType dtype, cudaStream_t stream) {
  const int64_t n = batch * oh * ow * c;
  if (n == 0) return;
  // The scales as torch computes them (fp32 in/out ratio), so the source rows match bit for bit.
  const float sh = static_cast<float>(h) / static_cast<float>(oh), sw = static_cast<float>(w) / static_cast<float>(ow);
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &upsample_nearest_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, h, w, c, oh, ow, sh, sw,
                static_cast<const T*>(x), static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_add_channel_bias(int64_t batch, int64_t pixels, int64_t channels, void* h, const void* v, DType dtype,
                             cudaStream_t stream) {
  const int64_t n = batch * pixels * channels;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &add_channel_bias_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, pixels, channels, static_cast<T*>(h),
                static_cast<const T*>(v));
  });
  FARM_CHECK_LAUNCH();
}

void append_gather_launch_info(std::vector<KernelLaunchInfo>& out) {
  for (const char* name : {"embed_tokens_kernel", "upsample_nearest_kernel", "add_channel_bias_kernel"})
    for (const char* type : {"__half", "__nv_bfloat16"}) out.push_back({std::string(name) + "<" + type + ">", kThreads, 0});
}

FARM_CUDA_NAMESPACE_END
