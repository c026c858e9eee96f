// Fully connected layer, weights [out, in] as torch.nn.Linear stores them.
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w,
            const float* bias, const float* residual, float* y) {
  const int64_t total_rows = batch * rows;
  for (int64_t r = 0; r < total_rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      float acc = 0.0f;
      for (int64_t i = 0; i < in; ++i) acc += x[r * in + i] * w[o * in + i];
      if (bias) acc += bias[o];
      if (residual) acc += residual[r * out + o];
      y[r * out + o] = acc;
    }
  }
}

}  // namespace farm::kernels::ref
