// bf16 linear over the bf16 GEMM (bf16_ops.h); conv2d is in bf16_conv.cpp,
// attention in bf16_attention.cpp.
#include <algorithm>

#include "kernels/cpu/bf16_ops.h"

namespace farm::kernels::cpu {

void linear_bf16(int64_t batch, int64_t rows, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y) {
  const int64_t in = w.k;
  parallel_gemm_bf16(
      batch * rows,
      [&](int64_t m, uint16_t* row) {
        to_bf16(x + m * in, in, row);
        std::fill(row + in, row + w.k_pad, uint16_t{0});
      },
      w, bias, residual, y);
}

void linear_geglu_bf16(int64_t batch, int64_t rows, const float* x, const PackedBf16& w, const float* bias,
                       float* y) {
  const int64_t in = w.k;
  parallel_gemm_geglu_bf16(
      batch * rows,
      [&](int64_t m, uint16_t* row) {
        to_bf16(x + m * in, in, row);
        std::fill(row + in, row + w.k_pad, uint16_t{0});
      },
      w, bias, y);
}

}  // namespace farm::kernels::cpu
