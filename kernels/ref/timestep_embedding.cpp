// diffusers.models.embeddings.get_timestep_embedding, in the same fp32 steps:
// exponent_i = -ln(max_period) · i / (half - shift); freq = exp(exponent);
// arg = t · freq; [sin | cos] (or [cos | sin]); an odd dim gets a zero column.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                        float downscale_freq_shift, float max_period, float* y) {
  const int64_t half = dim / 2;
  const float neg_log_period = static_cast<float>(-std::log(static_cast<double>(max_period)));
  for (int64_t b = 0; b < batch; ++b) {
    float* yb = y + b * dim;
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = neg_log_period * static_cast<float>(i) /
                             (static_cast<float>(half) - downscale_freq_shift);
      const float arg = t[b] * std::exp(exponent);
      const float s = std::sin(arg), c = std::cos(arg);
      yb[i] = flip_sin_to_cos ? c : s;
      yb[half + i] = flip_sin_to_cos ? s : c;
    }
    if (dim % 2 == 1) yb[dim - 1] = 0.0f;
  }
}

}  // namespace farm::kernels::ref
