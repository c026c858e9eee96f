// y[rows, out] = x[rows, in] · w[out, in]^T + bias (+ residual): the
// implicit GEMM (f32_gemm.h) with AVX-512, else one block-parallel OpenBLAS
// GEMM per sample; either way each sample's bits never depend on the batch.
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/f32_gemm.h"
#include "kernels/cpu/gemm.h"

namespace farm::kernels::cpu {
namespace {
// Rows per work item and k per pass for the implicit GEMM. Short k: the
// band's rows of A stay in L2 for the whole of k (linear_band). Long k
// (SD's 16² level, 1280 to 5120): 128 rows over 256 k at a time, so each
// packed panel streamed from memory serves 128 rows, not 48, while the
// band's 256 k of A stay in L2 (SD 1.5, 512 rows, 2 threads, caches
// flushed: 1280 → 1280 6.9 vs 7.2 ms, 5120 → 1280 28 vs 34 ms).
struct Blocking {
  int64_t band, k_block;
};
Blocking blocking(int64_t k) { return k >= 1024 ? Blocking{128, 256} : Blocking{linear_band(k), 0}; }

RowPointers rows_of(const float* x, int64_t in) {
  return [x, in](int64_t m0, int count, int64_t, const float** p) {
    for (int i = 0; i < count; ++i) p[i] = x + (m0 + i) * in;
  };
}
}  // namespace

void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w,
            const float* bias, const float* residual, float* y) {
  // With AVX-512, the implicit GEMM for every shape: it packs W once for
  // the whole batch and reads the rows in place, fuses bias and residual
  // into its last k chunk, and prefetches the lines it writes. Few rows
  // per sample (text encoders, SD's 16² and 8² levels): OpenBLAS per sample
  // repacked W for very few rows (text encoder 184 → 136 ms). Many rows
  // (SD's 64² and 32² levels): OpenBLAS in 256-row blocks was a few % slower
  // once the kernel prefetched its output (4096 × 320 → 320: 2.6 against
  // 3.0 ms, 2 threads; the SD 1.5 UNet step 5586 against 5766 ms, median of
  // 3 alternated runs' minima). Per-sample shapes never choose the path,
  // so a sample's bits never depend on the batch.
  if (f32_kernel_available()) {
    const Blocking b = blocking(in);
    return gemm_f32(batch * rows, 1, in, rows_of(x, in), w, out, bias, residual, y, b.band, b.k_block);
  }
  // An in-place residual (residual == y) is staged like conv2d's.
  const bool staged = residual != nullptr && residual == y;
  float* stage = staged ? scratch(1, rows * out) : nullptr;
  for (int64_t b = 0; b < batch; ++b) {
    float* yb = y + b * rows * out;
    float* c = staged ? stage : yb;
    const float* rb = residual ? residual + b * rows * out : nullptr;
    parallel_sgemm_nt(rows, out, in, x + b * rows * in, in, w, in, c, out,
                      [&](int64_t m0, int64_t mr, int64_t n0, int64_t nc) {
                        const int64_t at = m0 * out + n0;
                        add_bias_residual(mr, nc, out, c + at, bias ? bias + n0 : nullptr,
                                          rb ? rb + at : nullptr, yb + at);
                      });
  }
}

void linear_geglu(int64_t batch, int64_t rows, int64_t in, int64_t inner, const float* x, const float* w,
                  const float* bias, float* y) {
  // The implicit GEMM for every row count: OpenBLAS's products at 4096 rows
  // were a few % faster, but the fused gate saves writing and reading back
  // [rows, 2·inner] (84 MB per SD 1.5 transformer block at 512²) and the
  // geglu op. One path for every shape: batch invariant.
  const Blocking b = blocking(in);
  gemm_geglu_f32(batch * rows, in, rows_of(x, in), w, inner, bias, y, b.band, b.k_block);
}

}  // namespace farm::kernels::cpu
