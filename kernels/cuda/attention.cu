// Flash attention forward with wmma m16n16k16 (fp16/bf16 in, fp32 accumulate)
// and the online softmax of FlashAttention (Dao et al.), layout-agnostic so the
// same source runs under nvcc and the SIMT emulator.
//
// Block = 4 warps = 64 query rows of one (sample, head); each warp owns 16
// rows. Per KV tile of kBN keys: S = Q K^T (wmma, into shared fp32), then the
// warp's lanes (2 per row) mask, update the running max m and sum l, write
// P = exp(S - m) as T and rescale their rows of the fp32 output accumulator O,
// which lives in shared memory because a wmma fragment does not say which row
// an element belongs to; then O += P V (wmma, O loaded as the accumulator).
// Head dims 40 and 80 are padded with zeros to kDp = 48 and 96 in shared
// memory. No sequence limit: shared memory holds one KV tile at a time.
//
// Batch invariance: one block per (sample, head, query tile); the order of
// every reduction depends only on q_len/kv_len/head_dim.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"

namespace {

using namespace nvcuda;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;
using farm::kernels::cuda::AttentionParams;

constexpr int kBM = 64;  // query rows per block
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

template <class T, int kDp, int kBN>
struct Smem {
  // Byte offsets; every region starts 32-byte aligned (wmma requirement).
  static constexpr int k_off = 0;
  static constexpr int v_off = k_off + kBN * kDp * 2;
  static constexpr int s_off = v_off + kBN * kDp * 2;
  static constexpr int p_off = s_off + kBM * kBN * 4;
  static constexpr int o_off = p_off + kBM * kBN * 2;
  static constexpr int m_off = o_off + kBM * kDp * 4;
  static constexpr int l_off = m_off + kBM * 4;
  // +32: the dynamic shared memory declaration promises 16-byte alignment, wmma needs 32.
  static constexpr int bytes = l_off + kBM * 4 + 32;
  static_assert(v_off % 32 == 0 && s_off % 32 == 0 && p_off % 32 == 0 && o_off % 32 == 0, "alignment");
};

// rows x kDp tile of `src` (row stride `stride` elements) into dst [rows, kDp],
// zeros past rows_valid and past head dim d_real. vec: 16-byte loads (head dim,
// strides and pointers multiples of 8 elements: every SD layer).
template <class T, int kDp>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int64_t stride, int64_t rows_valid, int rows,
                                          int d_real, bool vec) {
  if (vec) {
    constexpr int kChunks = kDp / 8;
#pragma unroll 1
    for (int i = threadIdx.x; i < rows * kChunks; i += kThreads) {
      const int r = i / kChunks, d = (i % kChunks) * 8;
      uint4 c = make_uint4(0u, 0u, 0u, 0u);
      if (r < rows_valid && d < d_real) c = *reinterpret_cast<const uint4*>(src + r * stride + d);
      *reinterpret_cast<uint4*>(dst + r * kDp + d) = c;
    }
  } else {
    const T zero = from_f32<T>(0.0f);
    for (int i = threadIdx.x; i < rows * kDp; i += kThreads) {
      const int r = i / kDp, d = i % kDp;
      dst[i] = (r < rows_valid && d < d_real) ? src[r * stride + d] : zero;
    }
  }
}

template <class T, int kDp, int kBN>
__global__ void __launch_bounds__(kThreads) flash_attention_fwd_kernel(const AttentionParams p, const bool vec) {
  using S = Smem<T, kDp, kBN>;
  static_assert(kDp % 16 == 0 && kBN % 16 == 0, "wmma tiles");
  FARM_DYNAMIC_SHARED(unsigned char, smem_raw);
  unsigned char* smem = smem_raw + (32 - reinterpret_cast<uintptr_t>(smem_raw) % 32) % 32;
  T* ks = reinterpret_cast<T*>(smem + S::k_off);     // [kBN, kDp]
  T* vs = reinterpret_cast<T*>(smem + S::v_off);     // [kBN, kDp]
  float* ss = reinterpret_cast<float*>(smem + S::s_off);  // [kBM, kBN]
  T* ps = reinterpret_cast<T*>(smem + S::p_off);     // [kBM, kBN]
  float* os = reinterpret_cast<float*>(smem + S::o_off);  // [kBM, kDp]
  float* row_m = reinterpret_cast<float*>(smem + S::m_off);
  float* row_l = reinterpret_cast<float*>(smem + S::l_off);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int d_real = static_cast<int>(p.head_dim);
  const T* q = static_cast<const T*>(p.q) + b * p.q_len * p.q_stride + h * p.head_dim;
  const T* k = static_cast<const T*>(p.k) + b * p.kv_len * p.kv_stride + h * p.head_dim;
  const T* v = static_cast<const T*>(p.v) + b * p.kv_len * p.kv_stride + h * p.head_dim;
  T* out = static_cast<T*>(p.out) + b * p.q_len * p.out_stride + h * p.head_dim;

  // Q tile, zero padded, staged through the O region, kept in fragments.
  T* q_stage = reinterpret_cast<T*>(os);
  load_tile<T, kDp>(q_stage, q + q0 * p.q_stride, p.q_stride, p.q_len - q0, kBM, d_real, vec);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[kDp / 16];
#pragma unroll
  for (int kk = 0; kk < kDp / 16; ++kk) wmma::load_matrix_sync(qf[kk], q_stage + warp * 16 * kDp + kk * 16, kDp);
  __syncthreads();
  for (int i = tid; i < kBM * kDp; i += kThreads) os[i] = 0.0f;
  for (int i = tid; i < kBM; i += kThreads) {
    row_m[i] = -INFINITY;
    row_l[i] = 0.0f;
  }

  // Lane -> (row of this warp, half of the columns).
  const int row = warp * 16 + lane / 2, half = lane % 2;
  const int64_t qi = q0 + row;
  float* srow = ss + row * kBN;
  T* prow = ps + row * kBN;
  float* orow = os + row * kDp;
  const int64_t kv_end = p.causal ? (q0 + kBM < p.kv_len ? q0 + kBM : p.kv_len) : p.kv_len;

  for (int64_t n0 = 0; n0 < kv_end; n0 += kBN) {
    __syncthreads();  // the previous tile's K/V are no longer read; O init visible
    load_tile<T, kDp>(ks, k + n0 * p.kv_stride, p.kv_stride, p.kv_len - n0, kBN, d_real, vec);
    load_tile<T, kDp>(vs, v + n0 * p.kv_stride, p.kv_stride, p.kv_len - n0, kBN, d_real, vec);
    __syncthreads();

    // S[warp rows, kBN] = Q K^T: K row-major [key, d] is K^T column-major.
#pragma unroll
    for (int nj = 0; nj < kBN / 16; ++nj) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < kDp / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, ks + nj * 16 * kDp + kk * 16, kDp);
        wmma::mma_sync(acc, qf[kk], kf, acc);
      }
      wmma::store_matrix_sync(ss + warp * 16 * kBN + nj * 16, acc, kBN, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over this tile, two lanes per row.
    float tile_max = -INFINITY;
    for (int c = half * (kBN / 2); c < (half + 1) * (kBN / 2); ++c) {
      const int64_t kj = n0 + c;
      const bool visible = kj < p.kv_len && (!p.causal || kj <= qi);
      const float s = visible ? srow[c] * p.scale : -INFINITY;
      srow[c] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_old = row_m[row];
    const float m_new = fmaxf(m_old, tile_max);
    const float base = m_new == -INFINITY ? 0.0f : m_new;  // fully masked so far: all p = 0
    const float alpha = __expf(m_old - base);
    float sum = 0.0f;
    for (int c = half * (kBN / 2); c < (half + 1) * (kBN / 2); ++c) {
      const T pt = from_f32<T>(__expf(srow[c] - base));
      prow[c] = pt;
      sum += to_f32(pt);  // the rounded p, so numerator and denominator agree
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    for (int d = half * (kDp / 2); d < (half + 1) * (kDp / 2); ++d) orow[d] *= alpha;
    if (half == 0) {
      row_m[row] = m_new;
      row_l[row] = row_l[row] * alpha + sum;
    }
    __syncwarp();

    // O[warp rows, kDp] += P V.
    for (int dj = 0; dj < kDp / 16; ++dj) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      float* o_tile = os + warp * 16 * kDp + dj * 16;
      wmma::load_matrix_sync(acc, o_tile, kDp, wmma::mem_row_major);
      for (int kk = 0; kk < kBN / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, ps + warp * 16 * kBN + kk * 16, kBN);
        wmma::load_matrix_sync(vf, vs + kk * 16 * kDp + dj * 16, kDp);
        wmma::mma_sync(acc, pf, vf, acc);
      }
      wmma::store_matrix_sync(o_tile, acc, kDp, wmma::mem_row_major);
    }
    __syncwarp();
  }
  __syncthreads();  // q_len rows with no KV tile (kv_len 0) still see the O init

  const float l = row_l[row];
  const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
  if (qi < p.q_len)
    for (int d = half * (kDp / 2); d < (half + 1) * (kDp / 2); ++d)
      if (d < d_real) out[qi * p.out_stride + d] = from_f32<T>(orow[d] * inv_l);
}

template <class T, int kDp, int kBN>
void launch(const AttentionParams& p, cudaStream_t stream) {
  auto* kernel = &flash_attention_fwd_kernel<T, kDp, kBN>;
  constexpr int bytes = Smem<T, kDp, kBN>::bytes;
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
// kDp 64, 32 above, so shared memory stays <= 72 KiB.
template <class T>
void dispatch_head_dim(const AttentionParams& p, cudaStream_t stream) {
  if (p.head_dim <= 48) return launch<T, 48, 64>(p, stream);
  if (p.head_dim <= 64) return launch<T, 64, 64>(p, stream);
  if (p.head_dim <= 96) return launch<T, 96, 32>(p, stream);
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
    add(type, 48, 64, Smem<__half, 48, 64>::bytes);
    add(type, 64, 64, Smem<__half, 64, 64>::bytes);
    add(type, 96, 32, Smem<__half, 96, 32>::bytes);
    add(type, 160, 32, Smem<__half, 160, 32>::bytes);
  }
}

FARM_CUDA_NAMESPACE_END
