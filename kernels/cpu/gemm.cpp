#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

constexpr int64_t kBlockRows = 256;

constexpr int64_t kMinBlocks = 8;  // enough work items to balance up to 8 threads
constexpr int64_t kMinBlockCols = 64;
// Below this many flops a parallel region (waking a second thread, a barrier)
// costs more than it saves; on a loaded machine a wake-up can take a whole
// scheduler slice.
constexpr double kParallelFlops = 4e6;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

bool worth_parallel(double flops) { return flops > kParallelFlops; }

void sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda),
              b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void sgemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda),
              b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void use_single_threaded_blas() {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

void parallel_sgemm_nt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                       int64_t ldb, float* c, int64_t ldc, const BlockEpilogue& epilogue) {
  if (m == 0 || n == 0) return;
  // Shape-only blocking: split columns only when rows give too few blocks
  // (SD's 16×16 and 8×8 levels, single-row linears).
  const int64_t row_blocks = ceil_div(m, kBlockRows);
  int64_t col_blocks = 1;
  if (row_blocks < kMinBlocks)
    col_blocks = std::clamp(ceil_div(kMinBlocks, row_blocks), int64_t{1}, n / kMinBlockCols);
  col_blocks = std::max(col_blocks, int64_t{1});
  const int64_t block_cols = (ceil_div(n, col_blocks) + 15) / 16 * 16;
  col_blocks = ceil_div(n, block_cols);

  const int64_t items = row_blocks * col_blocks;
  const bool parallel =
      items > 1 && 2.0 * static_cast<double>(m * n) * static_cast<double>(k) > kParallelFlops;
  use_single_threaded_blas();
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t m0 = (item / col_blocks) * kBlockRows, n0 = (item % col_blocks) * block_cols;
    const int64_t rows = std::min(kBlockRows, m - m0), cols = std::min(block_cols, n - n0);
    sgemm_nt(rows, cols, k, 1.0f, a + m0 * lda, lda, b + n0 * ldb, ldb, 0.0f, c + m0 * ldc + n0,
             ldc);
    epilogue(m0, rows, n0, cols);
  }
}

void add_bias_residual(int64_t rows, int64_t cols, int64_t ld, const float* c, const float* bias,
                       const float* residual, float* y) {
  if (!bias && !residual && c == y) return;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      float v = c[r * ld + j];
      if (bias) v += bias[j];
      if (residual) v += residual[r * ld + j];
      y[r * ld + j] = v;
    }
  }
}

void* aligned_scratch(int slot, int64_t bytes) {
  constexpr int kSlots = 8;
  FARM_KERNEL_CHECK(slot >= 0 && slot < kSlots && bytes >= 0, "bad scratch request");
  // 64-byte aligned: a packed panel's 64-byte loads then never straddle two
  // cache lines (malloc's 16-byte alignment made every one of them split:
  // the 6×64 register tile ran at 205 against 220 GFLOP/s, one core, L1).
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    int64_t bytes = 0;
  };
  thread_local Buffer buffers[kSlots];
  Buffer& buf = buffers[slot];
  if (buf.bytes < bytes) {
    const int64_t size = (bytes + 63) / 64 * 64;
    buf.data.reset();
    buf.data.reset(std::aligned_alloc(64, static_cast<size_t>(size)));
    FARM_KERNEL_CHECK(buf.data != nullptr, "out of memory for a kernel's scratch buffer");
    std::memset(buf.data.get(), 0, static_cast<size_t>(size));
    buf.bytes = size;
  }
  return buf.data.get();
}

float* scratch(int slot, int64_t n) {
  FARM_KERNEL_CHECK(slot >= 0 && slot < 6, "bad scratch request");
  return static_cast<float*>(aligned_scratch(slot, n * static_cast<int64_t>(sizeof(float))));
}

}  // namespace farm::kernels::cpu
