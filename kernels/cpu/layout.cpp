// Data movement ops (NHWC): whole channel runs are copied with memcpy.
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace farm::kernels::cpu {

void upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x, float* y) {
  const int64_t out_rows = batch * 2 * h;
#pragma omp parallel for schedule(static) if (out_rows * w * c > 32768)
  for (int64_t row = 0; row < out_rows; ++row) {  // row = b·2H + oy
    const int64_t b = row / (2 * h), iy = (row % (2 * h)) / 2;
    const float* src = x + (b * h + iy) * w * c;
    float* dst = y + row * 2 * w * c;
    for (int64_t ox = 0; ox < 2 * w; ++ox)
      std::memcpy(dst + ox * c, src + (ox / 2) * c, sizeof(float) * c);
  }
}

void concat_channels(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb,
                     const float* b, float* y) {
  const int64_t pixels = batch * hw;
#pragma omp parallel for schedule(static) if (pixels * (ca + cb) > 32768)
  for (int64_t p = 0; p < pixels; ++p) {
    std::memcpy(y + p * (ca + cb), a + p * ca, sizeof(float) * ca);
    std::memcpy(y + p * (ca + cb) + ca, b + p * cb, sizeof(float) * cb);
  }
}

void patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x, float* y) {
  const int64_t ht = h / p, wt = w / p, run = p * c;  // one patch row: p pixels of c channels, contiguous both ways
  const int64_t tokens = batch * ht * wt;
#pragma omp parallel for schedule(static) if (tokens * p * run > 32768)
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t b = t / (ht * wt), i = (t / wt) % ht, j = t % wt;
    for (int64_t ph = 0; ph < p; ++ph) {
      const int64_t image = ((b * h + i * p + ph) * w + j * p) * c, patch = t * p * run + ph * run;
      if (inverse) std::memcpy(y + image, x + patch, sizeof(float) * run);
      else std::memcpy(y + patch, x + image, sizeof(float) * run);
    }
  }
}

}  // namespace farm::kernels::cpu
