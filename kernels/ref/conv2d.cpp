// Direct convolution, NHWC activations, weights [Cout, k, k, Cin].
#include "kernels/ref/check.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void conv2d(const Conv2dArgs& a, const float* x, const float* w, const float* bias,
            const float* residual, float* y) {
  FARM_KERNEL_CHECK(a.kernel > 0 && a.stride > 0 && a.pad >= 0, "bad conv geometry");
  const int64_t oh = a.out_h(), ow = a.out_w(), k = a.kernel;
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t pixel = (b * oh + oy) * ow + ox;
        for (int64_t co = 0; co < a.out_c; ++co) {
          float acc = 0.0f;
          for (int64_t ky = 0; ky < k; ++ky) {
            const int64_t iy = oy * a.stride - a.pad + ky;
            if (iy < 0 || iy >= a.in_h) continue;  // zero padding
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t ix = ox * a.stride - a.pad + kx;
              if (ix < 0 || ix >= a.in_w) continue;
              const float* xp = x + ((b * a.in_h + iy) * a.in_w + ix) * a.in_c;
              const float* wp = w + ((co * k + ky) * k + kx) * a.in_c;
              for (int64_t ci = 0; ci < a.in_c; ++ci) acc += xp[ci] * wp[ci];
            }
          }
          if (bias) acc += bias[co];
          if (residual) acc += residual[pixel * a.out_c + co];
          y[pixel * a.out_c + co] = acc;
        }
      }
    }
  }
}

}  // namespace farm::kernels::ref
