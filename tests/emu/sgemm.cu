// Tiled SGEMM with shared memory and __syncthreads, and a variant that lacks
// the second barrier (a race the emulator must expose as a wrong result).
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

namespace {

constexpr int kTile = 16;

template <bool kBroken>
__global__ void sgemm_tiled_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                                   int m, int n, int k) {
  __shared__ float as[kTile][kTile];
  __shared__ float bs[kTile][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * kTile + ty;
  const int col = blockIdx.x * kTile + tx;
  float acc = 0.0f;
  for (int t = 0; t < k; t += kTile) {
    as[ty][tx] = row < m && t + tx < k ? a[row * k + t + tx] : 0.0f;
    bs[ty][tx] = t + ty < k && col < n ? b[(t + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int i = 0; i < kTile; ++i) acc += as[ty][i] * bs[i][tx];
    if constexpr (!kBroken) __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

}  // namespace

namespace farm::emu_test {

void sgemm_tiled(const float* a, const float* b, float* c, int m, int n, int k, bool broken) {
  const dim3 block(kTile, kTile);
  const dim3 grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile);
  if (broken) {
    auto* kernel = &sgemm_tiled_kernel<true>;
    FARM_LAUNCH(kernel, grid, block, 0, 0, a, b, c, m, n, k);
  } else {
    auto* kernel = &sgemm_tiled_kernel<false>;
    FARM_LAUNCH(kernel, grid, block, 0, 0, a, b, c, m, n, k);
  }
}

}  // namespace farm::emu_test
