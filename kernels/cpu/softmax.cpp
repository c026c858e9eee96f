#include "kernels/cpu/softmax.h"

#include <limits>

#include "kernels/cpu/fast_math.h"

namespace farm::kernels::cpu {

// Cloned per ISA (by feature: "arch=" clones test the CPU model and missed
// Emerald Rapids): the exp is most of the softmax.
__attribute__((target_clones("avx512f", "avx2", "default"))) float softmax_row(float* s, int64_t n,
                                                                               int64_t visible, float scale) {
  float row_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : row_max)
  for (int64_t j = 0; j < visible; ++j) {
    s[j] *= scale;
    row_max = s[j] > row_max ? s[j] : row_max;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < visible; ++j) {
    s[j] = fast_exp(s[j] - row_max);
    sum += s[j];
  }
  for (int64_t j = visible; j < n; ++j) s[j] = 0.0f;
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) float softmax_block(float* s, int64_t n, float scale,
                                                                                 float* row_max) {
  float m = *row_max;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) {
    const float v = scale * s[j];
    m = v > m ? v : m;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    s[j] = fast_exp(scale * s[j] - m);
    sum += s[j];
  }
  *row_max = m;
  return sum;
}

}  // namespace farm::kernels::cpu
