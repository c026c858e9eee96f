// Implicit GEMM: C[M, N] = A[M, K] · B[K, N] with M = B·Ho·Wo output pixels,
// N = Cout, K = k·k·Cin. A is gathered from x on the fly (im2col, zero padding
// and ragged edges become zeros in shared memory); B[kidx, n] = w[n, kidx] is
// w as stored, read as a column-major tile. wmma m16n16k16, fp32 accumulate.
//
// Block tile 64×64, K step 32, 4 warps each owning a 32×32 quarter (2×2
// fragments). The epilogue goes through shared memory (fragment layouts are
// opaque) to add bias and residual and write T.
//
// K loop: no integer division. Each thread keeps the filter position
// (ci, ky, kx) of its tile column and moves it by kBK with carries
// (KCursor); dividing by in_c and kernel happens once, before the loop.
// When in_c % 8 == 0 (every SD layer but conv_in) the tiles are filled by a
// kStages-deep cp.async pipeline (kernels/cuda/async_copy.cuh), 16 bytes per
// copy, padding and edges zero filled by the copy; otherwise one element per
// load through registers, the next K step in flight during this one's mma.
//
// Batch invariance: the K loop order is fixed by the filter shape; which
// block an output pixel falls into changes nothing in its sum.
#include "kernels/emu/cuda_compat.h"

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/launch_info.h"

namespace {

using namespace nvcuda;
using farm::kernels::cuda::Conv2dParams;
using farm::kernels::cuda_device::cp_async_commit;
using farm::kernels::cuda_device::cp_async_wait;
using farm::kernels::cuda_device::cp_async_wait_all;
using farm::kernels::cuda_device::cp_async_zfill;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

constexpr int kBM = 64, kBN = 64, kBK = 32;
constexpr int kThreads = 128;
constexpr int kLdAB = kBK + 8;  // halves; +8 keeps rows 16-byte multiples and staggers banks
constexpr int kLdC = kBN + 4;   // floats
constexpr int kStageBytes = (kBM + kBN) * kLdAB * 2;  // one A and one B tile
constexpr int kSmemC = kBM * kLdC * 4;
// 3 stages: two K steps in flight while the tensor cores work on a third
// (30 KiB of tiles, under the 48 KiB a launch gets without opting in).
template <bool kVec>
constexpr int kStages = kVec ? 3 : 1;
template <bool kVec>
constexpr int kSmemTiles = kStages<kVec> * kStageBytes > kSmemC ? kStages<kVec> * kStageBytes : kSmemC;
// Then per output pixel of the tile: sample offset in x (-1: past the end)
// and top-left input corner, decoded once per block instead of per element.
constexpr int kSmemRows = kBM * (8 + 4 + 4);
// +32: the dynamic shared memory declaration promises 16-byte alignment, wmma needs 32.
template <bool kVec>
constexpr int kSmemBytes = kSmemTiles<kVec> + kSmemRows + 32;

// Where column kidx of the K dimension is in the filter: kidx = tap·in_c + ci,
// tap = ky·kernel + kx. advance() moves kidx by kBK without dividing: kBK =
// (step_ky·kernel + step_kx)·in_c + step_ci, split once at construction.
struct KCursor {
  int64_t kidx;
  int ci, ky, kx;
  int step_ci, step_kx, step_ky;
  int in_c, kernel;

  __device__ KCursor(int k_start, int in_c_, int kernel_) : kidx(k_start), in_c(in_c_), kernel(kernel_) {
    const int tap = k_start / in_c, q = kBK / in_c;
    ci = k_start % in_c;
    ky = tap / kernel;
    kx = tap % kernel;
    step_ci = kBK % in_c;
    step_ky = q / kernel;
    step_kx = q % kernel;
  }
  __device__ __forceinline__ void advance() {
    kidx += kBK;
    ci += step_ci;
    const int carry = ci >= in_c ? 1 : 0;  // step_ci < in_c: at most one wrap
    ci -= carry * in_c;
    kx += step_kx + carry;  // < 2·kernel: at most one wrap
    ky += step_ky;
    if (kx >= kernel) {
      kx -= kernel;
      ++ky;
    }
  }
};

// The tile rows a thread fills (kBM == kBN: the same rows of A and B) and
// its column of kPer elements; kLoads rows, kRowStep apart.
template <int kPer>
struct TileMap {
  static constexpr int kCols = kBK / kPer;  // loads across a tile row
  static constexpr int kRowStep = kThreads / kCols;
  static constexpr int kLoads = kBM / kRowStep;  // per thread per tile
  static_assert(kBM == kBN && kThreads % kCols == 0 && kBM % kRowStep == 0, "tile mapping");
};

// in_c % 8 == 0: 8 consecutive k share a filter tap and are 16-byte aligned
// in x and w, one cp.async each. The per-row decode is kept in registers
// (2 rows per thread).
template <class T>
struct AsyncTileLoader {
  using Map = TileMap<8>;
  const Conv2dParams& p;
  const T* x;
  const T* w;
  int64_t k_total;
  int col, row_first;
  int64_t base[Map::kLoads];
  int iy0[Map::kLoads], ix0[Map::kLoads];
  const T* w_row[Map::kLoads];  // null past out_c
  KCursor k;

  __device__ AsyncTileLoader(const Conv2dParams& p_, const int64_t* row_base, const int* row_iy0,
                             const int* row_ix0, int64_t n0, int64_t k_total_, int tid)
      : p(p_), x(static_cast<const T*>(p_.x)), w(static_cast<const T*>(p_.w)), k_total(k_total_),
        col(tid % Map::kCols), row_first(tid / Map::kCols),
        k(col * 8, static_cast<int>(p_.in_c), p_.kernel) {
#pragma unroll
    for (int i = 0; i < Map::kLoads; ++i) {
      const int r = row_first + i * Map::kRowStep;
      base[i] = row_base[r];
      iy0[i] = row_iy0[r];
      ix0[i] = row_ix0[r];
      w_row[i] = n0 + r < p.out_c ? w + (n0 + r) * k_total : nullptr;
    }
  }

  // Issues the copies of the next K step into one stage; the caller commits.
  __device__ void issue(T* as, T* bs) {
    const bool k_ok = k.kidx < k_total;  // k_total % 8 == 0: all 8 or none
#pragma unroll
    for (int i = 0; i < Map::kLoads; ++i) {
      const int r = row_first + i * Map::kRowStep;
      const int iy = iy0[i] + k.ky, ix = ix0[i] + k.kx;
      const bool a_ok = k_ok && base[i] >= 0 && iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
      // A zero-byte copy reads nothing; its source only has to be a valid address.
      const T* a_src = a_ok ? x + base[i] + (static_cast<int64_t>(iy) * p.in_w + ix) * p.in_c + k.ci : x;
      cp_async_zfill(as + r * kLdAB + col * 8, a_src, a_ok ? 16 : 0);
      const bool b_ok = k_ok && w_row[i] != nullptr;
      cp_async_zfill(bs + r * kLdAB + col * 8, b_ok ? w_row[i] + k.kidx : w, b_ok ? 16 : 0);
    }
    k.advance();
  }
};

// Any in_c: one element per load, global -> registers -> shared memory, so
// the loads of step k+1 are in flight while the tensor cores work on step k.
// Each thread keeps column `col` of the tiles (one KCursor).
template <class T>
struct RegTileLoader {
  using Map = TileMap<1>;
  const Conv2dParams& p;
  const T* x;
  const T* w;
  const int64_t* row_base;
  const int* row_iy0;
  const int* row_ix0;
  int64_t n0, k_total;
  int col, row_first;
  KCursor k;
  T a[Map::kLoads], b[Map::kLoads];

  __device__ RegTileLoader(const Conv2dParams& p_, const int64_t* row_base_, const int* row_iy0_,
                           const int* row_ix0_, int64_t n0_, int64_t k_total_, int tid)
      : p(p_), x(static_cast<const T*>(p_.x)), w(static_cast<const T*>(p_.w)), row_base(row_base_),
        row_iy0(row_iy0_), row_ix0(row_ix0_), n0(n0_), k_total(k_total_), col(tid % Map::kCols),
        row_first(tid / Map::kCols), k(col, static_cast<int>(p_.in_c), p_.kernel) {}

  __device__ void load() {
    const bool k_ok = k.kidx < k_total;
#pragma unroll
    for (int i = 0; i < Map::kLoads; ++i) {
      const int r = row_first + i * Map::kRowStep;
      const int64_t base = row_base[r];
      const int iy = row_iy0[r] + k.ky, ix = row_ix0[r] + k.kx;
      a[i] = (k_ok && base >= 0 && iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
                 ? x[base + (static_cast<int64_t>(iy) * p.in_w + ix) * p.in_c + k.ci]
                 : from_f32<T>(0.0f);
      const int64_t n = n0 + r;
      b[i] = (k_ok && n < p.out_c) ? w[n * k_total + k.kidx] : from_f32<T>(0.0f);
    }
    k.advance();
  }

  __device__ void store(T* as, T* bs) const {
#pragma unroll
    for (int i = 0; i < Map::kLoads; ++i) {
      const int r = row_first + i * Map::kRowStep;
      as[r * kLdAB + col] = a[i];
      bs[r * kLdAB + col] = b[i];
    }
  }
};

// One K step of the block's 64×64 tile: each warp's 2×2 fragments.
template <class T>
__device__ __forceinline__ void mma_step(const T* as, const T* bs, int warp_m, int warp_n,
                                         wmma::fragment<wmma::accumulator, 16, 16, 16, float> (&acc)[2][2]) {
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

template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads) conv2d_implicit_gemm_kernel(const Conv2dParams p) {
  FARM_DYNAMIC_SHARED(unsigned char, smem_raw);
  unsigned char* smem = smem_raw + (32 - reinterpret_cast<uintptr_t>(smem_raw) % 32) % 32;
  // Stage s: A tile [kBM, kLdAB] ([pixel, k]) then B tile [kBN, kLdAB] ([cout, k]).
  T* tiles = reinterpret_cast<T*>(smem);
  constexpr int kStageElems = kStageBytes / 2;
  float* cs = reinterpret_cast<float*>(smem);  // [kBM, kLdC] after the main loop
  int64_t* row_base = reinterpret_cast<int64_t*>(smem + kSmemTiles<kVec>);  // [kBM]
  int* row_iy0 = reinterpret_cast<int*>(row_base + kBM);                    // [kBM]
  int* row_ix0 = row_iy0 + kBM;                                             // [kBM]

  // Conv2dParams::out_h() is host code; the same formula.
  const int64_t ho_n = (p.in_h + 2 * p.pad - p.kernel) / p.stride + 1;
  const int64_t wo_n = (p.in_w + 2 * p.pad - p.kernel) / p.stride + 1;
  const int64_t m_total = p.batch * ho_n * wo_n;
  const int64_t n_total = p.out_c;
  const int64_t k_total = static_cast<int64_t>(p.kernel) * p.kernel * p.in_c;
  const int64_t k_steps = (k_total + kBK - 1) / kBK;
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

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  if constexpr (kVec) {
    constexpr int S = kStages<true>;
    AsyncTileLoader<T> loader(p, row_base, row_iy0, row_ix0, n0, k_total, tid);
    // Prologue: steps 0 .. S-2 in flight. Every iteration commits one group
    // (empty past the end), so "step kt landed" is always wait<S-2>.
    for (int s = 0; s < S - 1; ++s) {
      if (s < k_steps) loader.issue(tiles + s * kStageElems, tiles + s * kStageElems + kBM * kLdAB);
      cp_async_commit();
    }
    int read_stage = 0, write_stage = S - 1;
    for (int64_t kt = 0; kt < k_steps; ++kt) {
      cp_async_wait<S - 2>();  // this thread's copies of step kt landed
      // Everyone's copies of step kt are visible, and everyone finished the
      // mma of step kt-1, whose stage (write_stage) is refilled next.
      __syncthreads();
      if (kt + S - 1 < k_steps)
        loader.issue(tiles + write_stage * kStageElems, tiles + write_stage * kStageElems + kBM * kLdAB);
      cp_async_commit();
      mma_step(tiles + read_stage * kStageElems, tiles + read_stage * kStageElems + kBM * kLdAB, warp_m, warp_n,
               acc);
      read_stage = read_stage == S - 1 ? 0 : read_stage + 1;
      write_stage = write_stage == S - 1 ? 0 : write_stage + 1;
    }
    cp_async_wait_all();  // only empty groups remain; nothing may land on the C staging area
    __syncthreads();
  } else {
    T* as = tiles;
    T* bs = tiles + kBM * kLdAB;
    RegTileLoader<T> loader(p, row_base, row_iy0, row_ix0, n0, k_total, tid);
    if (k_steps > 0) loader.load();
    for (int64_t kt = 0; kt < k_steps; ++kt) {
      loader.store(as, bs);  // the barrier closing the previous step freed the tiles
      __syncthreads();
      if (kt + 1 < k_steps) loader.load();
      mma_step(as, bs, warp_m, warp_n, acc);
      __syncthreads();
    }
  }

  // The C staging area overlays the tiles (the K loop ends on a barrier).
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
  FARM_LAUNCH(kernel, grid, dim3(kThreads), vec ? kSmemBytes<true> : kSmemBytes<false>, stream, p);
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
    for (bool vec : {false, true})
      out.push_back({std::string("conv2d_implicit_gemm_kernel<") + type + ", " + (vec ? "true" : "false") + ">",
                     kThreads, vec ? kSmemBytes<true> : kSmemBytes<false>});
}

FARM_CUDA_NAMESPACE_END
