// Grid-stride elementwise kernels, fp32 math on 16-bit storage. Each output
// element is computed alone, so batch invariance is automatic.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch_info.h"
#include "kernels/cuda/elementwise.h"

namespace {

using farm::kernels::cuda::Activation;
using farm::kernels::cuda::DType;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

using farm::kernels::cuda_device::first_index;
using farm::kernels::cuda_device::grid_for;
using farm::kernels::cuda_device::grid_stride;
using farm::kernels::cuda_device::with_type;
constexpr int kThreads = farm::kernels::cuda_device::kGridThreads;

// 0.5·x·(1 + erf(x/√2)) through erfc, precise where 1 + erf cancels.
__device__ __forceinline__ float gelu_exact(float v) { return 0.5f * v * erfcf(-v * 0.70710678118654752f); }

template <class T>
__global__ void activation_kernel(Activation act, int64_t n, const T* x, T* y) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = to_f32(x[i]);
    float r;
    if (act == Activation::silu)
      r = v / (1.0f + __expf(-v));
    else if (act == Activation::gelu)
      r = gelu_exact(v);
    else
      r = v / (1.0f + __expf(-1.702f * v));
    y[i] = from_f32<T>(r);
  }
}

template <class T>
__global__ void add_kernel(int64_t n, const T* a, const T* b, T* y) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <class T>
__global__ void geglu_kernel(int64_t rows, int64_t inner, const T* x, T* y) {
  for (int64_t i = first_index(); i < rows * inner; i += grid_stride()) {
    const int64_t r = i / inner, c = i % inner;
    const float hidden = to_f32(x[r * 2 * inner + c]), gate = to_f32(x[r * 2 * inner + inner + c]);
    y[i] = from_f32<T>(hidden * gelu_exact(gate));
  }
}

template <class T>
__global__ void swiglu_kernel(int64_t rows, int64_t inner, const T* x, T* y) {
  for (int64_t i = first_index(); i < rows * inner; i += grid_stride()) {
    const int64_t r = i / inner, c = i % inner;
    const float gate = to_f32(x[r * 2 * inner + c]), up = to_f32(x[r * 2 * inner + inner + c]);
    y[i] = from_f32<T>(gate / (1.0f + __expf(-gate)) * up);
  }
}

template <class T>
__global__ void modulate_kernel(int64_t batch, int64_t rows, int64_t channels, const T* x, const T* scale, T* y) {
  for (int64_t i = first_index(); i < batch * rows * channels; i += grid_stride()) {
    const int64_t c = i % channels, b = i / (rows * channels);
    y[i] = from_f32<T>(to_f32(x[i]) * (1.0f + to_f32(scale[b * channels + c])));
  }
}

template <class T>
__global__ void gated_residual_kernel(int64_t batch, int64_t rows, int64_t channels, const T* gate, const T* y, T* h) {
  for (int64_t i = first_index(); i < batch * rows * channels; i += grid_stride()) {
    const int64_t c = i % channels, b = i / (rows * channels);
    h[i] = from_f32<T>(to_f32(h[i]) + tanhf(to_f32(gate[b * channels + c])) * to_f32(y[i]));
  }
}

// One thread per (token, head, pair).
template <class T>
__global__ void rope_kernel(int64_t rows, int64_t heads, int64_t head_dim, int64_t stride, bool interleaved,
                            const float* table, T* x) {
  const int64_t half = head_dim / 2, n = rows * heads * half;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t pair = i % half, h = (i / half) % heads, t = i / (half * heads);
    T* xh = x + t * stride + h * head_dim;
    const int64_t first = interleaved ? 2 * pair : pair, second = interleaved ? 2 * pair + 1 : pair + half;
    const float c = table[(t * half + pair) * 2], s = table[(t * half + pair) * 2 + 1];
    const float a = to_f32(xh[first]), b = to_f32(xh[second]);
    xh[first] = from_f32<T>(a * c - b * s);
    xh[second] = from_f32<T>(b * c + a * s);
  }
}

template <class T>
__global__ void upsample_nearest2x_kernel(int64_t batch, int64_t h, int64_t w, int64_t c, const T* x, T* y) {
  const int64_t n = batch * 4 * h * w * c;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t ch = i % c, ox = (i / c) % (2 * w), oy = (i / (c * 2 * w)) % (2 * h), b = i / (c * 4 * w * h);
    y[i] = x[((b * h + oy / 2) * w + ox / 2) * c + ch];
  }
}

template <class T>
__global__ void concat_channels_kernel(int64_t pixels, int64_t ca, const T* a, int64_t cb, const T* b, T* y) {
  const int64_t c = ca + cb;
  for (int64_t i = first_index(); i < pixels * c; i += grid_stride()) {
    const int64_t px = i / c, ch = i % c;
    y[i] = ch < ca ? a[px * ca + ch] : b[px * cb + ch - ca];
  }
}

// One thread per patch element, the patch index fastest: writes coalesce in
// the forward direction, reads in the inverse one.
template <class T>
__global__ void patchify_kernel(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const T* x,
                                T* y) {
  const int64_t ht = h / p, wt = w / p, pd = p * p * c, n = batch * ht * wt * pd;
  for (int64_t k = first_index(); k < n; k += grid_stride()) {
    const int64_t e = k % pd, t = k / pd, ch = e % c, pw = (e / c) % p, ph = e / (c * p);
    const int64_t j = t % wt, i = (t / wt) % ht, b = t / (wt * ht);
    const int64_t image = ((b * h + i * p + ph) * w + j * p + pw) * c + ch;
    if (inverse) y[image] = x[k];
    else y[k] = x[image];
  }
}

// Accurate sinf/cosf/expf (not the __ intrinsics): t·freq reaches ~1000 rad.
template <class T>
__global__ void timestep_embedding_kernel(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                                          float downscale_freq_shift, float neg_log_period, T* y) {
  const int64_t half = dim / 2;
  for (int64_t i = first_index(); i < batch * half; i += grid_stride()) {
    const int64_t b = i / half, j = i % half;
    const float exponent = neg_log_period * static_cast<float>(j) / (static_cast<float>(half) - downscale_freq_shift);
    const float arg = t[b] * expf(exponent);
    const float s = sinf(arg), c = cosf(arg);
    y[b * dim + j] = from_f32<T>(flip_sin_to_cos ? c : s);
    y[b * dim + half + j] = from_f32<T>(flip_sin_to_cos ? s : c);
    if (dim % 2 == 1 && j == 0) y[b * dim + dim - 1] = from_f32<T>(0.0f);
  }
}

// x/2 is exact, so a contracted fma(x, 0.5, 0.5) rounds as the host does.
template <class T>
__global__ void image_to_rgb8_kernel(int64_t n, const T* x, uint8_t* y) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float u = fminf(fmaxf(to_f32(x[i]) / 2.0f + 0.5f, 0.0f), 1.0f);
    y[i] = static_cast<uint8_t>(rintf(u * 255.0f));
  }
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_activation(Activation act, int64_t n, const void* x, void* y, DType dtype, cudaStream_t stream) {
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &activation_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, act, n, static_cast<const T*>(x), static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_add(int64_t n, const void* a, const void* b, void* y, DType dtype, cudaStream_t stream) {
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &add_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, n, static_cast<const T*>(a), static_cast<const T*>(b),
                static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_geglu(int64_t rows, int64_t inner, const void* x, void* y, DType dtype, cudaStream_t stream) {
  if (rows * inner == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &geglu_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(rows * inner), dim3(kThreads), 0, stream, rows, inner, static_cast<const T*>(x),
                static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_swiglu(int64_t rows, int64_t inner, const void* x, void* y, DType dtype, cudaStream_t stream) {
  if (rows * inner == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &swiglu_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(rows * inner), dim3(kThreads), 0, stream, rows, inner, static_cast<const T*>(x),
                static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_modulate(int64_t batch, int64_t rows, int64_t channels, const void* x, const void* scale, void* y,
                     DType dtype, cudaStream_t stream) {
  const int64_t n = batch * rows * channels;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &modulate_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, rows, channels, static_cast<const T*>(x),
                static_cast<const T*>(scale), static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_gated_residual(int64_t batch, int64_t rows, int64_t channels, const void* gate, const void* y, void* h,
                           DType dtype, cudaStream_t stream) {
  const int64_t n = batch * rows * channels;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &gated_residual_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, rows, channels, static_cast<const T*>(gate),
                static_cast<const T*>(y), static_cast<T*>(h));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_rope(int64_t rows, int64_t heads, int64_t head_dim, int64_t stride, bool interleaved, const float* table,
                 void* x, DType dtype, cudaStream_t stream) {
  const int64_t n = rows * heads * (head_dim / 2);
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &rope_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, rows, heads, head_dim, stride, interleaved, table,
                static_cast<T*>(x));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const void* x, void* y, DType dtype,
                               cudaStream_t stream) {
  const int64_t n = batch * 4 * h * w * c;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &upsample_nearest2x_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, h, w, c, static_cast<const T*>(x),
                static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_concat_channels(int64_t batch, int64_t hw, int64_t ca, const void* a, int64_t cb, const void* b, void* y,
                            DType dtype, cudaStream_t stream) {
  const int64_t n = batch * hw * (ca + cb);
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &concat_channels_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch * hw, ca, static_cast<const T*>(a), cb,
                static_cast<const T*>(b), static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const void* x, void* y,
                     DType dtype, cudaStream_t stream) {
  const int64_t n = batch * h * w * c;
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &patchify_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, h, w, c, p, inverse, static_cast<const T*>(x),
                static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}

void invoke_timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                               float downscale_freq_shift, float max_period, void* y, DType dtype,
                               cudaStream_t stream) {
  const int64_t n = batch * (dim / 2);
  if (n == 0) return;
  const float neg_log_period = static_cast<float>(-std::log(static_cast<double>(max_period)));
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &timestep_embedding_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, batch, t, dim, flip_sin_to_cos,
                downscale_freq_shift, neg_log_period, static_cast<T*>(y));
  });
  FARM_CHECK_LAUNCH();
}


void invoke_image_to_rgb8(int64_t n, const void* x, uint8_t* y, DType dtype, cudaStream_t stream) {
  if (n == 0) return;
  with_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* kernel = &image_to_rgb8_kernel<T>;
    FARM_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, stream, n, static_cast<const T*>(x), y);
  });
  FARM_CHECK_LAUNCH();
}

void append_elementwise_launch_info(std::vector<KernelLaunchInfo>& out) {
  for (const char* name : {"activation_kernel", "add_kernel", "geglu_kernel", "swiglu_kernel", "rope_kernel", "modulate_kernel",
                           "gated_residual_kernel",
                           "upsample_nearest2x_kernel",
                           "concat_channels_kernel", "patchify_kernel", "timestep_embedding_kernel",
                           "image_to_rgb8_kernel"})
    for (const char* type : {"__half", "__nv_bfloat16"})
      out.push_back({std::string(name) + "<" + type + ">", kThreads, 0});
}

FARM_CUDA_NAMESPACE_END
