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

#include <type_traits>

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
constexpr int kSmemTiles = kSmemAB > kSmemC ? kSmemAB : kSmemC;
// Then per output pixel of the tile: sample offset in x (-1: past the end)
// and top-left input corner, decoded once per block instead of per element.
constexpr int kSmemRows = kBM * (8 + 4 + 4);
// +32: the dynamic shared memory declaration promises 16-byte alignment, wmma needs 32.
constexpr int kSmemBytes = kSmemTiles + kSmemRows + 32;

// One K step of the A and B tiles, global -> registers -> shared memory, so
// the loads of step k+1 are in flight while the tensor cores work on step k.
// kVec (in_c % 8 == 0, every SD layer but conv_in): 8 consecutive k share a
// filter tap and are 16-byte aligned in x and w, one 16-byte load each.
// Otherwise one element per load; each thread keeps column `kk` of the tiles,
// so the filter tap it gathers is decoded once per K step.
template <class T, bool kVec>
struct TileLoader {
  static constexpr int kPer = kVec ? 8 : 1;        // elements per load
  static constexpr int kCols = kBK / kPer;         // loads across a tile row
  static constexpr int kRowStep = kThreads / kCols;
  static constexpr int kLoads = kBM / kRowStep;    // per thread per tile (kBM == kBN)
  using Chunk = typename std::conditional<kVec, uint4, T>::type;
  static_assert(kBM == kBN && kThreads % kCols == 0 && kBM % kRowStep == 0, "tile mapping");

  const Conv2dParams& p;
  const T* x;
  const T* w;
  const int64_t* row_base;
  const int* row_iy0;
  const int* row_ix0;
  int64_t n0, k_total;
  int col, row_first;
  Chunk a[kLoads], b[kLoads];

  __device__ static Chunk zero_chunk() {
    if constexpr (kVec)
      return make_uint4(0u, 0u, 0u, 0u);
    else
      return from_f32<T>(0.0f);
  }
  __device__ static Chunk read(const T* src) {
    if constexpr (kVec)
      return *reinterpret_cast<const uint4*>(src);
    else
      return *src;
  }

  __device__ void load(int64_t k0) {
    const int64_t kidx = k0 + col * kPer;
    const bool k_ok = kidx < k_total;  // kVec: k_total % 8 == 0, so all 8 or none
    const int64_t ci = kidx % p.in_c, tap = kidx / p.in_c;
    const int ky = static_cast<int>(tap / p.kernel), kx = static_cast<int>(tap % p.kernel);
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int r = row_first + i * kRowStep;
      const int64_t base = row_base[r];
      const int iy = row_iy0[r] + ky, ix = row_ix0[r] + kx;
      a[i] = (k_ok && base >= 0 && iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
                 ? read(x + base + (static_cast<int64_t>(iy) * p.in_w + ix) * p.in_c + ci)
                 : zero_chunk();
      const int64_t n = n0 + r;
      b[i] = (k_ok && n < p.out_c) ? read(w + n * k_total + kidx) : zero_chunk();
    }
  }

  __device__ void store(T* as, T* bs) const {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int r = row_first + i * kRowStep;
      *reinterpret_cast<Chunk*>(as + r * kLdAB + col * kPer) = a[i];
      *reinterpret_cast<Chunk*>(bs + r * kLdAB + col * kPer) = b[i];
    }
  }
};

template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads) conv2d_implicit_gemm_kernel(const Conv2dParams p) {
  FARM_DYNAMIC_SHARED(unsigned char, smem_raw);
  unsigned char* smem = smem_raw + (32 - reinterpret_cast<uintptr_t>(smem_raw) % 32) % 32;
  T* as = reinterpret_cast<T*>(smem);                   // [kBM, kLdAB]: A tile, [pixel, k]
  T* bs = as + kBM * kLdAB;                             // [kBN, kLdAB]: B tile, [cout, k]
  float* cs = reinterpret_cast<float*>(smem);           // [kBM, kLdC] after the main loop
  int64_t* row_base = reinterpret_cast<int64_t*>(smem + kSmemTiles);  // [kBM]
  int* row_iy0 = reinterpret_cast<int*>(row_base + kBM);              // [kBM]
  int* row_ix0 = row_iy0 + kBM;                                       // [kBM]

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

  for (int r = tid; r < kBM; r += kThreads) {
    const int64_t m = m0 + r;
    const int64_t ox = m % wo_n, oy = (m / wo_n) % ho_n, b = m / (wo_n * ho_n);
    row_base[r] = m < m_total ? b * p.in_h * p.in_w * p.in_c : -1;
    row_iy0[r] = static_cast<int>(oy * p.stride - p.pad);
    row_ix0[r] = static_cast<int>(ox * p.stride - p.pad);
  }
  __syncthreads();

  using Loader = TileLoader<T, kVec>;
  Loader loader{p, static_cast<const T*>(p.x), static_cast<const T*>(p.w), row_base, row_iy0, row_ix0,
                n0, k_total, tid % Loader::kCols, tid / Loader::kCols, {}, {}};
  if (k_total > 0) loader.load(0);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = 0; k0 < k_total; k0 += kBK) {
    loader.store(as, bs);  // the barrier closing the previous step freed the tiles
    __syncthreads();
    if (k0 + kBK < k_total) loader.load(k0 + kBK);
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
    __syncthreads();
  }

  // The C staging area overlays the A/B tiles (the K loop ends on a barrier).
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
  // 16-byte loads need 16-byte aligned tensors (cudaMalloc gives 256).
  const bool vec = p.in_c % 8 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(p.w) % 16 == 0;
  auto* kernel = vec ? &conv2d_implicit_gemm_kernel<T, true> : &conv2d_implicit_gemm_kernel<T, false>;
  FARM_LAUNCH(kernel, grid, dim3(kThreads), kSmemBytes, stream, p);
  FARM_CHECK_LAUNCH();
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_conv2d(const Conv2dParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.out_c == 0 || p.out_h() <= 0 || p.out_w() <= 0) return;
  if (p.in_c <= 0 || p.kernel <= 0 || p.stride <= 0) {
    std::fprintf(stderr, "invoke_conv2d: in_c %lld, kernel %d, stride %d must be positive\n",
                 static_cast<long long>(p.in_c), p.kernel, p.stride);
    std::abort();
  }
  if (p.dtype == DType::f16)
    launch<__half>(p, stream);
  else
    launch<__nv_bfloat16>(p, stream);
}


void append_conv2d_launch_info(std::vector<KernelLaunchInfo>& out) {
  for (const char* type : {"__half", "__nv_bfloat16"})
    for (const char* vec : {"false", "true"})
      out.push_back({std::string("conv2d_implicit_gemm_kernel<") + type + ", " + vec + ">", kThreads, kSmemBytes});
}

FARM_CUDA_NAMESPACE_END
