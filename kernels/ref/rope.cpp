// Rotary position embedding: each pair of a head rotated by its token's angle.
#include "kernels/ref/check.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void rope(const RopeArgs& a, const float* table, float* x) {
  FARM_KERNEL_CHECK(a.head_dim % 2 == 0, "rope needs an even head_dim");
  FARM_KERNEL_CHECK(a.stride >= a.heads * a.head_dim, "rope stride shorter than heads * head_dim");
  const int64_t half = a.head_dim / 2;
  for (int64_t t = 0; t < a.rows; ++t) {
    const float* cs = table + t * half * 2;
    for (int64_t h = 0; h < a.heads; ++h) {
      float* xh = x + t * a.stride + h * a.head_dim;
      for (int64_t i = 0; i < half; ++i) {
        float* first = a.interleaved ? xh + 2 * i : xh + i;
        float* second = a.interleaved ? xh + 2 * i + 1 : xh + i + half;
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float p = *first, q = *second;
        *first = p * c - q * s;
        *second = q * c + p * s;
      }
    }
  }
}

}  // namespace farm::kernels::ref
