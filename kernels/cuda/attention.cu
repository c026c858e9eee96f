// Flash attention forward on the tensor cores by hand: cp.async tiles,
// ldmatrix fragments, mma.sync m16n8k16 (fp16/bf16 in, fp32 accumulate) and
// the online softmax of FlashAttention-2 (Dao) on the fragments themselves.
//
// Block = 4 warps = 64 query rows of one (sample, head); each warp owns 16
// rows for the whole kernel. Q is loaded once into A fragments (registers).
// Per KV tile of kBN keys, double buffered with cp.async (tile j+1 in flight
// while j is computed):
//   S = Q K^T      kBN/8 m16n8k16 accumulators per warp, in registers. K
//                  [key, d] row-major is the "col" B operand as stored:
//                  plain ldmatrix.
//   softmax        mask, running max m and sum l per row. A lane holds rows
//                  g and g+8 (g = lane/4) at columns 2t, 2t+1 of every 8-key
//                  group (t = lane%4), so a row is spread over one quad and
//                  reduced with two xor shuffles; O is rescaled in registers.
//   O += P V       P's fp32 accumulators, rounded to T, are already the A
//                  fragment layout of the next mma; V [key, d] needs the
//                  transposed B fragment: ldmatrix.trans.
// Nothing but K/V tiles touches shared memory in the loop. Rows are padded by
// 8 elements (16 bytes): the 8 rows of an ldmatrix phase then start in 8
// different 4-bank groups (row stride 2·kDp+16 bytes, kDp % 16 == 0), so
// every ldmatrix is one wavefront per matrix.
//
// Head dims 40 and 80 run zero padded to kDp = 48 and 96; zero filling is
// done by cp.async itself (src_size 0 or 16 bytes). Layouts that cannot take
// 16-byte copies (head dim, stride or pointer not a multiple of 8 elements)
// fill the same tiles with plain loads and stores. No sequence limit.
//
// Batch invariance: one block per (sample, head, query tile); the order of
// every reduction depends only on q_len/kv_len/head_dim.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"
#include "kernels/cuda/warp_mma.cuh"

namespace {

using farm::kernels::cuda::AttentionParams;
using namespace farm::kernels::cuda_device;

constexpr int kBM = 64;  // query rows per block
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

// Shared memory, in elements of T: K and V tiles [kBN, kStride] twice,
// [K0 V0 K1 V1]. The Q tile [kBM, kStride] is staged in K1/V1 before the
// first refill of that buffer.
template <int kDp, int kBN>
struct Smem {
  static constexpr int kStride = kDp + 8;  // +16 bytes: conflict-free ldmatrix
  static constexpr int kTile = kBN * kStride;
  __host__ __device__ static constexpr int k_off(int buf) { return buf * 2 * kTile; }
  __host__ __device__ static constexpr int v_off(int buf) { return buf * 2 * kTile + kTile; }
  static constexpr int q_off = 2 * kTile;
  static constexpr int bytes = 4 * kTile * 2;
  static_assert(2 * kBN >= kBM, "the Q tile fits in one K/V buffer pair");
  static_assert(kDp % 16 == 0 && kBN % 16 == 0, "m16n8k16 steps; ldmatrix.x4 pairs of 8-wide groups");
};

// rows x kDp tile of `src` (row stride `stride` elements) into dst [rows,
// kStride], zeros past rows_valid and past head dim d_real. vec: cp.async of
// 16 bytes (zero-filling ones for the padding), to land at the next
// cp_async_wait; else plain loads and stores, visible at once.
template <class T, int kDp>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int64_t stride, int64_t rows_valid, int rows,
                                          int d_real, bool vec) {
  constexpr int kStride = kDp + 8;
  if (vec) {
    constexpr int kChunks = kDp / 8;
#pragma unroll 1
    for (int i = threadIdx.x; i < rows * kChunks; i += kThreads) {
      const int r = i / kChunks, d = (i % kChunks) * 8;
      const bool inside = r < rows_valid && d < d_real;
      // Padding reads nothing (src_size 0) from an address that stays valid.
      cp_async_zfill(dst + r * kStride + d, inside ? src + r * stride + d : src, inside ? 16 : 0);
    }
  } else {
    const T zero = from_f32<T>(0.0f);
#pragma unroll 1
    for (int i = threadIdx.x; i < rows * kDp; i += kThreads) {
      const int r = i / kDp, d = i % kDp;
      dst[r * kStride + d] = (r < rows_valid && d < d_real) ? src[r * stride + d] : zero;
    }
  }
}

// Max (kMax) or sum over the 4 lanes of a quad: the lanes that hold one row.
template <bool kMax>
__device__ __forceinline__ float quad_reduce(float v) {
#pragma unroll
  for (int o = 1; o < 4; o *= 2) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  return v;
}

template <class T, int kDp, int kBN>
__global__ void __launch_bounds__(kThreads) flash_attention_fwd_kernel(const AttentionParams p, const bool vec) {
  using S = Smem<kDp, kBN>;
  constexpr int kStride = S::kStride;
  FARM_DYNAMIC_SHARED(T, smem);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // fragment row group, column pair
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int d_real = static_cast<int>(p.head_dim);
  const T* q = static_cast<const T*>(p.q) + b * p.q_len * p.q_stride + h * p.head_dim;
  const int64_t kv_h = farm::kernels::cuda::attention_kv_head(p, h);
  const T* k = static_cast<const T*>(p.k) + b * p.kv_len * p.kv_stride + kv_h * p.head_dim;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_len * p.kv_stride + kv_h * p.head_dim;
  T* out = static_cast<T*>(p.out) + b * p.q_len * p.out_stride + h * p.head_dim;
  const int64_t kv_end = p.causal ? (q0 + kBM < p.kv_len ? q0 + kBM : p.kv_len) : p.kv_len;
  const int tiles = static_cast<int>((kv_end + kBN - 1) / kBN);

  // Q and the first K/V tile: one commit group.
  load_tile<T, kDp>(smem + S::q_off, q + q0 * p.q_stride, p.q_stride, p.q_len - q0, kBM, d_real, vec);
  if (tiles > 0) {
    load_tile<T, kDp>(smem + S::k_off(0), k, p.kv_stride, p.kv_len, kBN, d_real, vec);
    load_tile<T, kDp>(smem + S::v_off(0), v, p.kv_stride, p.kv_len, kBN, d_real, vec);
  }
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // This warp's 16 query rows as A fragments, one per 16-wide k step.
  // ldmatrix.x4 matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
  uint32_t qf[kDp / 16][4];
  {
    const T* q_row = smem + S::q_off + (warp * 16 + lane % 8 + (lane / 8 % 2) * 8) * kStride + (lane / 16) * 8;
#pragma unroll
    for (int kk = 0; kk < kDp / 16; ++kk) ldmatrix<4>(qf[kk], q_row + kk * 16);
  }
  __syncthreads();  // the Q tile's buffer is refilled next

  float o[kDp / 8][4];  // O[rows g, g+8][8 dj + 2t, +1]
#pragma unroll
  for (int dj = 0; dj < kDp / 8; ++dj)
    for (int i = 0; i < 4; ++i) o[dj][i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.0f, 0.0f};  // this lane's share; the quad's sum at the end
  const int64_t row0 = q0 + warp * 16 + g;

  // Lane -> row it addresses in ldmatrix.x4 over two 8-row groups of K or V.
  const int k_lane_row = (lane / 16) * 8 + lane % 8, k_lane_col = (lane / 8 % 2) * 8;
  const int v_lane_row = (lane / 8 % 2) * 8 + lane % 8, v_lane_col = (lane / 16) * 8;

#pragma unroll 1
  for (int j = 0; j < tiles; ++j) {
    const int64_t n0 = static_cast<int64_t>(j) * kBN;
    const int buf = j % 2;
    if (j + 1 < tiles) {  // the other buffer was released by the barrier closing tile j-1
      const int64_t n1 = n0 + kBN;
      load_tile<T, kDp>(smem + S::k_off(buf ^ 1), k + n1 * p.kv_stride, p.kv_stride, p.kv_len - n1, kBN, d_real, vec);
      load_tile<T, kDp>(smem + S::v_off(buf ^ 1), v + n1 * p.kv_stride, p.kv_stride, p.kv_len - n1, kBN, d_real, vec);
    }
    cp_async_commit();  // possibly empty: keeps "all but the newest group" meaning tile j
    cp_async_wait<1>();
    __syncthreads();  // every thread's copies of tile j have landed
    const T* ks = smem + S::k_off(buf);
    const T* vs = smem + S::v_off(buf);

    // S = Q K^T for this warp's rows: ldmatrix.x4 gives the B fragments of two
    // 8-key groups: (keys 0-7, d 0-7), (keys 0-7, d 8-15), (keys 8-15, d 0-7), (keys 8-15, d 8-15).
    float s[kBN / 8][4];
#pragma unroll
    for (int nj = 0; nj < kBN / 8; ++nj)
      for (int i = 0; i < 4; ++i) s[nj][i] = 0.0f;
#pragma unroll
    for (int nj = 0; nj < kBN / 8; nj += 2) {
#pragma unroll
      for (int kk = 0; kk < kDp / 16; ++kk) {
        uint32_t kf[4];
        ldmatrix<4>(kf, ks + (nj * 8 + k_lane_row) * kStride + kk * 16 + k_lane_col);
        const uint32_t b0[2] = {kf[0], kf[1]}, b1[2] = {kf[2], kf[3]};
        mma_m16n8k16<T>(s[nj], qf[kk], b0);
        mma_m16n8k16<T>(s[nj + 1], qf[kk], b1);
      }
    }

    // Online softmax. s[nj][i]: row row0 + 8·(i/2), key n0 + 8·nj + 2t + i%2.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nj = 0; nj < kBN / 8; ++nj)
      for (int i = 0; i < 4; ++i) {
        const int64_t key = n0 + nj * 8 + 2 * t + i % 2;
        const bool visible = key < p.kv_len && (!p.causal || key <= row0 + (i / 2) * 8);
        s[nj][i] = visible ? s[nj][i] * p.scale : -INFINITY;
        tile_max[i / 2] = fmaxf(tile_max[i / 2], s[nj][i]);
      }
    float base[2], alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float m_new = fmaxf(row_max[r], quad_reduce<true>(tile_max[r]));
      base[r] = m_new == -INFINITY ? 0.0f : m_new;  // fully masked so far: all p = 0
      alpha[r] = __expf(row_max[r] - base[r]);
      row_max[r] = m_new;
    }
    // P in T as the A fragments of O += P V: 8-key groups 2kk and 2kk+1 are
    // registers {0, 1} and {2, 3} of step kk. The sums add the rounded p, so
    // numerator and denominator agree.
    uint32_t pf[kBN / 16][4];
    float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nj = 0; nj < kBN / 8; ++nj) {
      const uint32_t top = pack2<T>(__expf(s[nj][0] - base[0]), __expf(s[nj][1] - base[0]));
      const uint32_t bottom = pack2<T>(__expf(s[nj][2] - base[1]), __expf(s[nj][3] - base[1]));
      tile_sum[0] += unpack<T>(top, 0) + unpack<T>(top, 1);
      tile_sum[1] += unpack<T>(bottom, 0) + unpack<T>(bottom, 1);
      pf[nj / 2][(nj % 2) * 2] = top;
      pf[nj / 2][(nj % 2) * 2 + 1] = bottom;
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) row_sum[r] = row_sum[r] * alpha[r] + tile_sum[r];
#pragma unroll
    for (int dj = 0; dj < kDp / 8; ++dj)
      for (int i = 0; i < 4; ++i) o[dj][i] *= alpha[i / 2];

    // O += P V: ldmatrix.x4.trans gives the B fragments of two 8-wide d
    // groups: (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15), (keys 8-15, d 8-15).
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
#pragma unroll
      for (int dj = 0; dj < kDp / 8; dj += 2) {
        uint32_t vf[4];
        ldmatrix_trans<4>(vf, vs + (kk * 16 + v_lane_row) * kStride + dj * 8 + v_lane_col);
        const uint32_t b0[2] = {vf[0], vf[1]}, b1[2] = {vf[2], vf[3]};
        mma_m16n8k16<T>(o[dj], pf[kk], b0);
        mma_m16n8k16<T>(o[dj + 1], pf[kk], b1);
      }
    }
    __syncthreads();  // buffer `buf` is refilled at tile j+1 (with tile j+2)
  }

  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_reduce<false>(row_sum[r]);
    inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
  }
#pragma unroll
  for (int dj = 0; dj < kDp / 8; ++dj)
    for (int i = 0; i < 4; ++i) {
      const int64_t qi = row0 + (i / 2) * 8;
      const int d = dj * 8 + 2 * t + i % 2;
      if (qi < p.q_len && d < d_real) out[qi * p.out_stride + d] = from_f32<T>(o[dj][i] * inv[i / 2]);
    }
}

template <class T, int kDp, int kBN>
void launch(const AttentionParams& p, cudaStream_t stream) {
  auto* kernel = &flash_attention_fwd_kernel<T, kDp, kBN>;
  constexpr int bytes = Smem<kDp, kBN>::bytes;
  FARM_CHECK_CUDA(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  const dim3 grid(static_cast<unsigned>((p.q_len + kBM - 1) / kBM), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  const auto aligned16 = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  const bool vec = p.head_dim % 8 == 0 && p.q_stride % 8 == 0 && p.kv_stride % 8 == 0 && aligned16(p.q) &&
                   aligned16(p.k) && aligned16(p.v);
  FARM_LAUNCH(kernel, grid, dim3(kThreads), bytes, stream, p, vec);
  FARM_CHECK_LAUNCH();
}

// Runtime head dim -> template parameters (flash-attention's HEADDIM_SWITCH):
// SD's head dims 40, 64, 80, 160 each get a padded width kDp; any smaller
// head dim runs zero padded in the next one up. KV tiles of 64 keys up to
// kDp 96; 32 at 160, where O (80 fp32 per lane) and Q (40 registers) leave
// no room for 64 scores per lane.
template <class T>
void dispatch_head_dim(const AttentionParams& p, cudaStream_t stream) {
  if (p.head_dim <= 48) return launch<T, 48, 64>(p, stream);
  if (p.head_dim <= 64) return launch<T, 64, 64>(p, stream);
  if (p.head_dim <= 96) return launch<T, 96, 64>(p, stream);
  return launch<T, 160, 32>(p, stream);
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

bool attention_supports_head_dim(int64_t head_dim) {
  return head_dim >= 1 && (head_dim <= 160 || attention_rows_supports_head_dim(head_dim));
}

void invoke_attention(const AttentionParams& p, cudaStream_t stream) {
  if (p.q_len == 0 || p.batch == 0 || p.heads == 0) return;
  if (p.head_dim > 160) return invoke_attention_rows(p, stream);  // e.g. the VAE's one head of 512
  if (p.dtype == DType::f16)
    dispatch_head_dim<__half>(p, stream);
  else
    dispatch_head_dim<__nv_bfloat16>(p, stream);
}


void append_attention_launch_info(std::vector<KernelLaunchInfo>& out) {
  auto add = [&](const char* type, int dp, int bn, int bytes) {
    out.push_back({std::string("flash_attention_fwd_kernel<") + type + ", " + std::to_string(dp) + ", " +
                       std::to_string(bn) + ">",
                   kThreads, bytes});
  };
  for (const char* type : {"__half", "__nv_bfloat16"}) {
    add(type, 48, 64, Smem<48, 64>::bytes);
    add(type, 64, 64, Smem<64, 64>::bytes);
    add(type, 96, 64, Smem<96, 64>::bytes);
    add(type, 160, 32, Smem<160, 32>::bytes);
  }
}

FARM_CUDA_NAMESPACE_END
