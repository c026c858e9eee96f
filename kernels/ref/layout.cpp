// Data movement ops: nearest 2× upsample, channel concat (NHWC), DiT patches.
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x, float* y) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oy = 0; oy < 2 * h; ++oy)
      for (int64_t ox = 0; ox < 2 * w; ++ox)
        for (int64_t ch = 0; ch < c; ++ch)
          y[((b * 2 * h + oy) * 2 * w + ox) * c + ch] = x[((b * h + oy / 2) * w + ox / 2) * c + ch];
}

void concat_channels(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb,
                     const float* b, float* y) {
  for (int64_t p = 0; p < batch * hw; ++p) {
    for (int64_t c = 0; c < ca; ++c) y[p * (ca + cb) + c] = a[p * ca + c];
    for (int64_t c = 0; c < cb; ++c) y[p * (ca + cb) + ca + c] = b[p * cb + c];
  }
}

void patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x, float* y) {
  const int64_t ht = h / p, wt = w / p;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < ht; ++i)
      for (int64_t j = 0; j < wt; ++j)
        for (int64_t ph = 0; ph < p; ++ph)
          for (int64_t pw = 0; pw < p; ++pw)
            for (int64_t ch = 0; ch < c; ++ch) {
              const int64_t image = ((b * h + i * p + ph) * w + j * p + pw) * c + ch;
              const int64_t patch = ((b * ht + i) * wt + j) * p * p * c + (ph * p + pw) * c + ch;
              if (inverse) y[image] = x[patch];
              else y[patch] = x[image];
            }
}

}  // namespace farm::kernels::ref
