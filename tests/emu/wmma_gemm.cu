// Tensor-core GEMM with wmma m16n16k16: each warp computes one 16x16 tile of
// C, fp32 accumulation; half or bf16 inputs, B row- or column-major.
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

#include <type_traits>

namespace {

using namespace nvcuda;

// Block: 4 warps along n. A [m,k] row-major; B [k,n] row-major or [n,k] col.
template <class T, class BLayout>
__global__ void wmma_gemm_kernel(const T* __restrict__ a, const T* __restrict__ b, float* __restrict__ c, int m,
                                 int n, int k) {
  const int warp = threadIdx.x / 32;
  const int tile_m = blockIdx.y * 16;
  const int tile_n = (blockIdx.x * 4 + warp) * 16;
  if (tile_m >= m || tile_n >= n) return;  // whole warps leave together
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, T, BLayout> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  constexpr bool kColB = std::is_same<BLayout, wmma::col_major>::value;
  for (int kk = 0; kk < k; kk += 16) {
    wmma::load_matrix_sync(fa, a + tile_m * k + kk, k);
    if (kColB)
      wmma::load_matrix_sync(fb, b + tile_n * k + kk, k);
    else
      wmma::load_matrix_sync(fb, b + kk * n + tile_n, n);
    wmma::mma_sync(acc, fa, fb, acc);
  }
  wmma::store_matrix_sync(c + tile_m * n + tile_n, acc, n, wmma::mem_row_major);
}

template <class T>
void run(const uint16_t* a, const uint16_t* b, float* c, int m, int n, int k, bool b_col_major) {
  const dim3 block(128);
  const dim3 grid((n / 16 + 3) / 4, m / 16);
  const T* ta = reinterpret_cast<const T*>(a);
  const T* tb = reinterpret_cast<const T*>(b);
  if (b_col_major) {
    auto* kernel = &wmma_gemm_kernel<T, wmma::col_major>;
    FARM_LAUNCH(kernel, grid, block, 0, 0, ta, tb, c, m, n, k);
  } else {
    auto* kernel = &wmma_gemm_kernel<T, wmma::row_major>;
    FARM_LAUNCH(kernel, grid, block, 0, 0, ta, tb, c, m, n, k);
  }
}

}  // namespace

namespace farm::emu_test {

void wmma_gemm_f16(const uint16_t* a, const uint16_t* b, float* c, int m, int n, int k, bool b_col_major) {
  run<__half>(a, b, c, m, n, k, b_col_major);
}
void wmma_gemm_bf16(const uint16_t* a, const uint16_t* b, float* c, int m, int n, int k, bool b_col_major) {
  run<__nv_bfloat16>(a, b, c, m, n, k, b_col_major);
}

}  // namespace farm::emu_test
