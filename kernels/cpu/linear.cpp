// y[rows, out] = x[rows, in] · w[out, in]^T + bias (+ residual), one
// block-parallel GEMM per sample so each sample's shapes (and so its bits)
// never depend on the batch.
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"

namespace farm::kernels::cpu {

void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w,
            const float* bias, const float* residual, float* y) {
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

}  // namespace farm::kernels::cpu
