// Group norm and layer norm: mean, then the biased variance from a second
// pass over (x - mean), as torch computes them. RMS norm: mean of squares,
// weight times the normalized value (transformers' Qwen3RMSNorm order).
#include <cmath>

#include "kernels/ref/check.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps,
                const float* x, const float* gamma, const float* beta, bool silu, float* y) {
  FARM_KERNEL_CHECK(groups > 0 && channels % groups == 0, "channels not divisible by groups");
  const int64_t cg = channels / groups;
  const float count = static_cast<float>(hw * cg);
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x + b * hw * channels;
    float* yb = y + b * hw * channels;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = g * cg;
      float sum = 0.0f;
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = c0; c < c0 + cg; ++c) sum += xb[p * channels + c];
      const float mean = sum / count;
      float sq = 0.0f;
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = c0; c < c0 + cg; ++c) {
          const float dev = xb[p * channels + c] - mean;
          sq += dev * dev;
        }
      const float inv_std = 1.0f / std::sqrt(sq / count + eps);
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = c0; c < c0 + cg; ++c) {
          float v = (xb[p * channels + c] - mean) * inv_std * gamma[c] + beta[c];
          if (silu) v = v / (1.0f + std::exp(-v));
          yb[p * channels + c] = v;
        }
    }
  }
}

void layer_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma,
                const float* beta, float* y) {
  const float count = static_cast<float>(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    float sum = 0.0f;
    for (int64_t c = 0; c < channels; ++c) sum += xr[c];
    const float mean = sum / count;
    float sq = 0.0f;
    for (int64_t c = 0; c < channels; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
    const float inv_std = 1.0f / std::sqrt(sq / count + eps);
    for (int64_t c = 0; c < channels; ++c) yr[c] = (xr[c] - mean) * inv_std * gamma[c] + beta[c];
  }
}

void rms_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y) {
  const float count = static_cast<float>(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    float sq = 0.0f;
    for (int64_t c = 0; c < channels; ++c) sq += xr[c] * xr[c];
    const float inv_rms = 1.0f / std::sqrt(sq / count + eps);
    for (int64_t c = 0; c < channels; ++c) yr[c] = gamma[c] * (xr[c] * inv_rms);
  }
}

}  // namespace farm::kernels::ref
