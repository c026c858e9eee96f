// Implicit GEMM: C[M, N] = A[M, K] · B[K, N] with M = B·Ho·Wo output pixels,
// N = Cout, K = k·k·Cin. A is gathered from x on the fly (im2col, zero padding
// and ragged edges become zeros in shared memory); B[kidx, n] = w[n, kidx] is
// w as stored, read as a column-major tile. wmma m16n16k16, fp32 accumulate.
//
// Block tile 64×64, K step 32, 4 warps each owning a 32×32 quarter (2×2
// fragments). The epilogue goes through shared memory (fragment layouts are
// opaque) to add bias and residual and write T.
//
// Batch invariance: the K loop order is fixed by the filter shape; which
// block an output pixel falls into changes nothing in its sum.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"

namespace {

using namespace nvcuda;
using farm::kernels::cuda::Conv2dParams;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

constexpr int kBM = 64, kBN = 64, kBK = 32;
constexpr int kThreads = 128;
constexpr int kLdAB = kBK + 8;  // halves; +8 keeps rows 16-byte multiples and staggers banks
constexpr int kLdC = kBN + 4;   // floats
constexpr int kSmemAB = 2 * kBM * kLdAB * 2;
constexpr int kSmemC = kBM * kLdC * 4;
constexpr int kSmemBytes = kSmemAB > kSmemC ? kSmemAB : kSmemC;

template <class T>
__global__ void __launch_bounds__(kThreads) conv2d_implicit_gemm_kernel(const Conv2dParams p) {
  FARM_DYNAMIC_SHARED(unsigned char, smem);
  T* as = reinterpret_cast<T*>(smem);                   // [kBM, kLdAB]: A tile, [pixel, k]
  T* bs = as + kBM * kLdAB;                             // [kBN, kLdAB]: B tile, [cout, k]
  float* cs = reinterpret_cast<float*>(smem);           // [kBM, kLdC] after the main loop

  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  // Conv2dParams::out_h() is host code; the same formula.
  const int64_t ho_n = (p.in_h + 2 * p.pad - p.kernel) / p.stride + 1;
  const int64_t wo_n = (p.in_w + 2 * p.pad - p.kernel) / p.stride + 1;
  const int64_t m_total = p.batch * ho_n * wo_n;
  const int64_t n_total = p.out_c;
  const int64_t k_total = static_cast<int64_t>(p.kernel) * p.kernel * p.in_c;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kBN;
  const int tid = threadIdx.x, warp = tid / 32;
  const int warp_m = warp / 2, warp_n = warp % 2;
  const T zero = from_f32<T>(0.0f);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  // Each thread always fills column `kk` of the tiles (kThreads % kBK == 0),
  // so the filter tap it gathers is decoded once per K step.
  const int kk = tid % kBK;
  const int row_first = tid / kBK;
  constexpr int kRowStep = kThreads / kBK;

  for (int64_t k0 = 0; k0 < k_total; k0 += kBK) {
    const int64_t kidx = k0 + kk;
    const bool k_ok = kidx < k_total;
    const int64_t ci = kidx % p.in_c;
    const int64_t tap = kidx / p.in_c;
    const int ky = static_cast<int>(tap / p.kernel), kx = static_cast<int>(tap % p.kernel);
    __syncthreads();  // the previous tiles are consumed
    for (int r = row_first; r < kBM; r += kRowStep) {
      const int64_t m = m0 + r;
      T a = zero;
      if (k_ok && m < m_total) {
        const int64_t ox = m % wo_n, oy = (m / wo_n) % ho_n, b = m / (wo_n * ho_n);
        const int64_t iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
        if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w) a = x[((b * p.in_h + iy) * p.in_w + ix) * p.in_c + ci];
      }
      as[r * kLdAB + kk] = a;
    }
    for (int r = row_first; r < kBN; r += kRowStep) {
      const int64_t n = n0 + r;
      bs[r * kLdAB + kk] = (k_ok && n < n_total) ? w[n * k_total + kidx] : zero;
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> af[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bf[2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        wmma::load_matrix_sync(af[i], as + (warp_m * 32 + i * 16) * kLdAB + ks * 16, kLdAB);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(bf[j], bs + (warp_n * 32 + j * 16) * kLdAB + ks * 16, kLdAB);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
  }

  __syncthreads();  // the C staging area overlays the A/B tiles
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(cs + (warp_m * 32 + i * 16) * kLdC + warp_n * 32 + j * 16, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();

  const T* bias = static_cast<const T*>(p.bias);
  const T* residual = static_cast<const T*>(p.residual);
  T* y = static_cast<T*>(p.y);
  for (int i = tid; i < kBM * kBN; i += kThreads) {
    const int r = i / kBN, c = i % kBN;
    const int64_t m = m0 + r, n = n0 + c;
    if (m >= m_total || n >= n_total) continue;
    float v = cs[r * kLdC + c];
    if (bias) v += to_f32(bias[n]);
    if (residual) v += to_f32(residual[m * n_total + n]);
    y[m * n_total + n] = from_f32<T>(v);
  }
}

template <class T>
void launch(const Conv2dParams& p, cudaStream_t stream) {
  const int64_t m_total = p.batch * p.out_h() * p.out_w();
  const dim3 grid(static_cast<unsigned>((m_total + kBM - 1) / kBM), static_cast<unsigned>((p.out_c + kBN - 1) / kBN));
  auto* kernel = &conv2d_implicit_gemm_kernel<T>;
  FARM_LAUNCH(kernel, grid, dim3(kThreads), kSmemBytes, stream, p);
  FARM_CHECK_LAUNCH();
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_conv2d(const Conv2dParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.out_c == 0 || p.out_h() <= 0 || p.out_w() <= 0) return;
  if (p.dtype == DType::f16)
    launch<__half>(p, stream);
  else
    launch<__nv_bfloat16>(p, stream);
}


void append_conv2d_launch_info(std::vector<KernelLaunchInfo>& out) {
  out.push_back({"conv2d_implicit_gemm_kernel<__half>", kThreads, kSmemBytes});
  out.push_back({"conv2d_implicit_gemm_kernel<__nv_bfloat16>", kThreads, kSmemBytes});
}

FARM_CUDA_NAMESPACE_END
