// Group norm: each (sample, group) is split over several blocks so SD's
// shapes fill the GPU (one block per (sample, group) gave 64 blocks at
// 2×64×64×320, under one wave of an A100's 108 SMs). Two launches:
//  1. group_norm_stats_kernel: a block owns a slab of pixel rows × `gpb`
//     whole groups (kernels/cuda/norm_layout.h) and writes, per group, the
//     mean and M2 = Σ(x - mean)² of its slab, two-pass in fp32 over the slab.
//  2. group_norm_apply_kernel: every block of a (sample, group) combines that
//     group's partials in the same fixed order (Chan et al.'s pairwise
//     update, sequential per lane then a fixed shuffle tree), so all of them
//     get bit-identical statistics, then normalises its slab (+ affine, SiLU).
// No float atomics: the result is the same on every run, and since the slabs
// depend on (hw, channels, groups) and never on the batch, a sample's output
// does not depend on the other samples (batch invariance).
//
// Layer norm: one block per row; each thread strides over the row in a fixed
// order and the block sums in a fixed tree (block_sum).
#include "kernels/emu/cuda_compat.h"

#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"
#include "kernels/cuda/norm.h"
#include "kernels/cuda/norm_layout.h"

namespace {

using farm::kernels::cuda::GroupNormLayout;
using farm::kernels::cuda::GroupNormParams;
using farm::kernels::cuda::LayerNormParams;
using farm::kernels::cuda::RmsNormParams;
using farm::kernels::cuda::kGroupNormMaxGroupsPerBlock;
using farm::kernels::cuda::kGroupNormScratchFloats;
using farm::kernels::cuda::kGroupNormThreads;
using farm::kernels::cuda_device::block_sum;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

constexpr int kThreads = kGroupNormThreads;

// Per-(sample, group, slab) (mean, M2) between the two launches. A module
// variable, not an allocation per call: the device-resident backend promises
// no allocations after the first step (tests/cuda/test_cuda_emu_render.cpp).
// One copy per device, so group norms on one device must be stream-ordered
// (the backend has one stream per device); invoke_group_norm serialises host
// threads because under the emulator this is one host array for all of them.
__device__ float g_group_norm_partials[kGroupNormScratchFloats];

// V consecutive 16-bit elements, loaded and stored as one 16-byte access
// when V == 8 (the alignment lets nvcc emit ld/st.global.v4).
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T e[V];
};

// The thread's place in its slab: `lanes` threads cover a row of
// vectors_per_row vectors, row_step rows at a time. Threads past
// lanes·row_step idle (fewer than `lanes` of them).
struct SlabThread {
  int col0, col_step, r0;
  bool active;
  __device__ explicit SlabThread(const GroupNormLayout& l) {
    const int lanes = l.vectors_per_row < kThreads ? l.vectors_per_row : kThreads;
    col0 = static_cast<int>(threadIdx.x) % lanes;
    col_step = lanes;
    r0 = static_cast<int>(threadIdx.x) / lanes;
    active = r0 < l.row_step;
  }
};

// One pass over the slab: per channel of the block, the fixed-order sum over
// the slab's rows of x (kSquares false) or of (x - center[group])² (true),
// left in red[0 .. channels_per_block). red holds row_step × channels_per_block
// floats (dynamic shared memory).
template <class T, int V, bool kSquares>
__device__ void slab_channel_sums(const T* x, int64_t row_begin, int64_t row_end, const GroupNormLayout& l,
                                  const SlabThread& st, const float* center, float* red) {
  const int cw = l.channels_per_block;
  if (st.active) {
    for (int c = st.col0; c < l.vectors_per_row; c += st.col_step) {
      float acc[V], ctr[V];
#pragma unroll
      for (int v = 0; v < V; ++v) {
        acc[v] = 0.0f;
        ctr[v] = kSquares ? center[(c * V + v) / l.channels_per_group] : 0.0f;  // once per thread
      }
      const T* src = x + (row_begin + st.r0) * l.channels + c * V;
      for (int64_t row = row_begin + st.r0; row < row_end; row += l.row_step, src += l.row_step * l.channels) {
        const Pack<T, V> pk = *reinterpret_cast<const Pack<T, V>*>(src);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float e = to_f32(pk.e[v]), d = e - ctr[v];
          acc[v] += kSquares ? d * d : e;
        }
      }
#pragma unroll
      for (int v = 0; v < V; ++v) red[st.r0 * cw + c * V + v] = acc[v];
    }
  }
  __syncthreads();
  // Column ch is read and then overwritten (row 0) by one thread only.
  for (int ch = static_cast<int>(threadIdx.x); ch < cw; ch += kThreads) {
    float total = 0.0f;
    for (int r = 0; r < l.row_step; ++r) total += red[r * cw + ch];
    red[ch] = total;
  }
  __syncthreads();
}

template <class T, int V>
__global__ void __launch_bounds__(kThreads)
    group_norm_stats_kernel(const GroupNormParams p, const GroupNormLayout l, int64_t b0) {
  FARM_DYNAMIC_SHARED(float, red);
  __shared__ float slab_mean[kGroupNormMaxGroupsPerBlock];
  const int s = static_cast<int>(blockIdx.x % l.splits), gb = static_cast<int>(blockIdx.x / l.splits);
  const int64_t b = b0 + blockIdx.y;
  const int64_t row_begin = static_cast<int64_t>(s) * l.rows_per_split;
  const int64_t row_end = row_begin + l.rows_per_split < p.hw ? row_begin + l.rows_per_split : p.hw;
  const T* x = static_cast<const T*>(p.x) + b * p.hw * p.channels + static_cast<int64_t>(gb) * l.channels_per_block;
  const float n = static_cast<float>((row_end - row_begin) * l.channels_per_group);
  const SlabThread st(l);
  const int cpg = l.channels_per_group, t = static_cast<int>(threadIdx.x);

  slab_channel_sums<T, V, false>(x, row_begin, row_end, l, st, nullptr, red);
  if (t < l.groups_per_block) {
    float sum = 0.0f;
    for (int ch = t * cpg; ch < (t + 1) * cpg; ++ch) sum += red[ch];
    slab_mean[t] = sum / n;
  }
  __syncthreads();
  // Second pass about the slab's own mean: no cancellation of large squares.
  slab_channel_sums<T, V, true>(x, row_begin, row_end, l, st, slab_mean, red);
  if (t < l.groups_per_block) {
    float m2 = 0.0f;
    for (int ch = t * cpg; ch < (t + 1) * cpg; ++ch) m2 += red[ch];
    const int64_t g = static_cast<int64_t>(gb) * l.groups_per_block + t;
    float* out = g_group_norm_partials + ((blockIdx.y * p.groups + g) * l.splits + s) * 2;
    out[0] = slab_mean[t];
    out[1] = m2;
  }
}

struct Moments {
  float n, mean, m2;
};

// Chan, Golub & LeVeque's pairwise update; an empty side passes the other through.
__device__ __forceinline__ Moments combine(const Moments& a, const Moments& b) {
  if (b.n == 0.0f) return a;
  if (a.n == 0.0f) return b;
  const float n = a.n + b.n, d = b.mean - a.mean;
  return {n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n)};
}

template <class T, int V>
__global__ void __launch_bounds__(kThreads)
    group_norm_apply_kernel(const GroupNormParams p, const GroupNormLayout l, int64_t b0) {
  __shared__ float g_mean[kGroupNormMaxGroupsPerBlock], g_inv_std[kGroupNormMaxGroupsPerBlock];
  const int s = static_cast<int>(blockIdx.x % l.splits), gb = static_cast<int>(blockIdx.x / l.splits);
  const int64_t b = b0 + blockIdx.y;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  // Warp w combines group gb·gpb + w: lane i takes slabs i, i+32, ... in
  // order, then a fixed tree over the lanes. Every block of the group does
  // exactly this, so all agree bit for bit.
  if (warp < l.groups_per_block) {
    const int64_t g = static_cast<int64_t>(gb) * l.groups_per_block + warp;
    const float* part = g_group_norm_partials + (blockIdx.y * p.groups + g) * l.splits * 2;
    Moments m{0.0f, 0.0f, 0.0f};
    for (int i = lane; i < l.splits; i += 32) {
      const int64_t rows = i + 1 < l.splits ? l.rows_per_split : p.hw - static_cast<int64_t>(i) * l.rows_per_split;
      m = combine(m, {static_cast<float>(rows * l.channels_per_group), part[2 * i], part[2 * i + 1]});
    }
    for (int o = 16; o > 0; o /= 2) {
      const Moments other{__shfl_down_sync(0xffffffffu, m.n, o), __shfl_down_sync(0xffffffffu, m.mean, o),
                          __shfl_down_sync(0xffffffffu, m.m2, o)};
      m = combine(m, other);
    }
    if (lane == 0) {
      g_mean[warp] = m.mean;
      g_inv_std[warp] = rsqrtf(m.m2 / m.n + p.eps);
    }
  }
  __syncthreads();

  const int64_t row_begin = static_cast<int64_t>(s) * l.rows_per_split;
  const int64_t row_end = row_begin + l.rows_per_split < p.hw ? row_begin + l.rows_per_split : p.hw;
  const int64_t c0 = static_cast<int64_t>(gb) * l.channels_per_block;
  const T* x = static_cast<const T*>(p.x) + b * p.hw * p.channels + c0;
  T* y = static_cast<T*>(p.y) + b * p.hw * p.channels + c0;
  const T* gamma = static_cast<const T*>(p.gamma) + c0;
  const T* beta = static_cast<const T*>(p.beta) + c0;
  const SlabThread st(l);
  if (!st.active) return;
  for (int c = st.col0; c < l.vectors_per_row; c += st.col_step) {
    float mean[V], scale[V], shift[V];
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int ch = c * V + v, gi = ch / l.channels_per_group;  // once per thread, not per element
      mean[v] = g_mean[gi];
      scale[v] = g_inv_std[gi] * to_f32(gamma[ch]);
      shift[v] = to_f32(beta[ch]);
    }
    const int64_t step = static_cast<int64_t>(l.row_step) * l.channels;
    int64_t off = (row_begin + st.r0) * l.channels + c * V;
    for (int64_t row = row_begin + st.r0; row < row_end; row += l.row_step, off += step) {
      const Pack<T, V> in = *reinterpret_cast<const Pack<T, V>*>(x + off);
      Pack<T, V> out;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        float r = (to_f32(in.e[v]) - mean[v]) * scale[v] + shift[v];
        if (p.silu) r = r / (1.0f + __expf(-r));
        out.e[v] = from_f32<T>(r);
      }
      *reinterpret_cast<Pack<T, V>*>(y + off) = out;
    }
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
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const RmsNormParams p) {
  __shared__ float scratch[kThreads / 32];
  const int64_t r = blockIdx.x;
  const T* x = static_cast<const T*>(p.x) + r * p.channels;
  T* y = static_cast<T*>(p.y) + r * p.channels;
  const T* gamma = static_cast<const T*>(p.gamma);
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < p.channels; c += kThreads) {
    const float v = to_f32(x[c]);
    sq += v * v;
  }
  const float inv_rms = rsqrtf(block_sum<kThreads>(sq, scratch) / static_cast<float>(p.channels) + p.eps);
  for (int64_t c = threadIdx.x; c < p.channels; c += kThreads)
    y[c] = from_f32<T>(to_f32(gamma[c]) * (to_f32(x[c]) * inv_rms));
}

template <class T, int V>
void launch_group_norm(const GroupNormParams& p, const GroupNormLayout& l, cudaStream_t stream) {
  auto* stats = &group_norm_stats_kernel<T, V>;
  auto* apply = &group_norm_apply_kernel<T, V>;
  const unsigned blocks_x = static_cast<unsigned>(l.blocks_per_sample(p.groups));
  // Samples are independent: a batch larger than the scratch runs in slices.
  for (int64_t b0 = 0; b0 < p.batch; b0 += l.samples_per_launch) {
    const int64_t nb = p.batch - b0 < l.samples_per_launch ? p.batch - b0 : l.samples_per_launch;
    const dim3 grid(blocks_x, static_cast<unsigned>(nb));
    FARM_LAUNCH(stats, grid, dim3(kThreads), l.stats_smem_bytes, stream, p, l, b0);
    FARM_CHECK_LAUNCH();
    FARM_LAUNCH(apply, grid, dim3(kThreads), 0, stream, p, l, b0);
    FARM_CHECK_LAUNCH();
  }
}

template <class T>
void launch_layer_norm(const LayerNormParams& p, cudaStream_t stream) {
  auto* kernel = &layer_norm_kernel<T>;
  FARM_LAUNCH(kernel, dim3(static_cast<unsigned>(p.rows)), dim3(kThreads), 0, stream, p);
  FARM_CHECK_LAUNCH();
}

template <class T>
void launch_rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  auto* kernel = &rms_norm_kernel<T>;
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
  const bool aligned16 = reinterpret_cast<uintptr_t>(p.x) % 16 == 0 && reinterpret_cast<uintptr_t>(p.y) % 16 == 0;
  const GroupNormLayout l = group_norm_layout(p.hw, p.channels, p.groups, aligned16);
  static std::mutex scratch_mutex;  // see g_group_norm_partials
  std::lock_guard<std::mutex> lock(scratch_mutex);
  const bool vec = l.vector == 8;
  if (p.dtype == DType::f16)
    vec ? launch_group_norm<__half, 8>(p, l, stream) : launch_group_norm<__half, 1>(p, l, stream);
  else
    vec ? launch_group_norm<__nv_bfloat16, 8>(p, l, stream) : launch_group_norm<__nv_bfloat16, 1>(p, l, stream);
}

void invoke_layer_norm(const LayerNormParams& p, cudaStream_t stream) {
  if (p.rows == 0) return;
  if (p.dtype == DType::f16)
    launch_layer_norm<__half>(p, stream);
  else
    launch_layer_norm<__nv_bfloat16>(p, stream);
}

void invoke_rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.rows == 0) return;
  if (p.dtype == DType::f16)
    launch_rms_norm<__half>(p, stream);
  else
    launch_rms_norm<__nv_bfloat16>(p, stream);
}

void append_norm_launch_info(std::vector<KernelLaunchInfo>& out) {
  // The stats kernel's dynamic shared memory depends on the shape; listed is
  // the most it takes when a block's row fits the block (every SD shape).
  for (const char* type : {"__half", "__nv_bfloat16"}) {
    for (int v : {1, 8}) {
      const std::string args = std::string("<") + type + ", " + std::to_string(v) + ">";
      out.push_back({"group_norm_stats_kernel" + args, kThreads, kThreads * v * 4});
      out.push_back({"group_norm_apply_kernel" + args, kThreads, 0});
    }
    out.push_back({std::string("layer_norm_kernel<") + type + ">", kThreads, 0});
    out.push_back({std::string("rms_norm_kernel<") + type + ">", kThreads, 0});
  }
}

FARM_CUDA_NAMESPACE_END
