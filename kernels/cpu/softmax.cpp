#include "kernels/cpu/softmax.h"

#if defined(__x86_64__) && !defined(FARM_NO_AVX512_KERNELS)
#define FARM_SOFTMAX_AVX512 1
#include <immintrin.h>
// GCC 12 reports the unused merge source inside the AVX-512 intrinsics'
// headers as uninitialised (a false positive, as in f32_gemm.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <limits>

#include "kernels/cpu/fast_math.h"

namespace farm::kernels::cpu {
namespace {

#if defined(FARM_SOFTMAX_AVX512)
// exp(x) on 16 lanes for x <= 0 (a softmax's x − max): fast_exp's Cephes
// polynomial on r = x − n·ln2 with FMAs, times 2^n by VSCALEFPS, which
// underflows to 0 itself, so only a floor keeps −inf from making NaN (the
// portable version's clamps and exponent-bit building compiled to masked
// selects that made the softmax a third of attention's time). About 1 ulp.
__attribute__((target("avx512f"))) inline __m512 exp_nonpositive_16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // MAXPS returns its second operand on NaN: NaN stays NaN
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

__mmask16 first_lanes(int64_t n) { return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1u); }

// s[j] = exp(scale · s[j] − m) for j < n with m = max(*row_max, scale · s[j]);
// returns the sum. Masked tails: the bits of an element never depend on
// where the row ends.
__attribute__((target("avx512f"))) float softmax_avx512(float* s, int64_t n, float scale, float* row_max) {
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(*row_max);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = first_lanes(n - j);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vscale));
  }
  const float row = _mm512_reduce_max_ps(vmax);
  const __m512 vm = _mm512_set1_ps(row);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = first_lanes(n - j);
    const __m512 e = exp_nonpositive_16(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vscale), vm));
    _mm512_mask_storeu_ps(s + j, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  }
  *row_max = row;
  return _mm512_reduce_add_ps(sum);
}

template <int V>
__attribute__((target("avx512f"))) void softmax_columns_avx512(float* s, int64_t keys, float scale, float* col_max,
                                                               float* col_sum, float* alpha, bool first) {
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 m[V];
  for (int v = 0; v < V; ++v)
    m[v] = first ? _mm512_set1_ps(-std::numeric_limits<float>::infinity()) : _mm512_loadu_ps(col_max + 16 * v);
  __m512 before[V];
  for (int v = 0; v < V; ++v) before[v] = m[v];
  for (int64_t j = 0; j < keys; ++j)
    for (int v = 0; v < V; ++v) m[v] = _mm512_max_ps(m[v], _mm512_mul_ps(_mm512_loadu_ps(s + j * 16 * V + 16 * v), vscale));
  __m512 sum[V];
  for (int v = 0; v < V; ++v) sum[v] = _mm512_setzero_ps();
  for (int64_t j = 0; j < keys; ++j)
    for (int v = 0; v < V; ++v) {
      float* p = s + j * 16 * V + 16 * v;
      const __m512 e = exp_nonpositive_16(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(p), vscale), m[v]));
      _mm512_storeu_ps(p, e);
      sum[v] = _mm512_add_ps(sum[v], e);
    }
  for (int v = 0; v < V; ++v) {
    const __m512 a = first ? _mm512_setzero_ps() : exp_nonpositive_16(_mm512_sub_ps(before[v], m[v]));
    _mm512_storeu_ps(alpha + 16 * v, a);
    _mm512_storeu_ps(col_sum + 16 * v,
                     first ? sum[v] : _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(col_sum + 16 * v), a), sum[v]));
    _mm512_storeu_ps(col_max + 16 * v, m[v]);
  }
}

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") != 0;
  return yes;
}
#endif

}  // namespace

// Cloned per ISA (by feature: "arch=" clones test the CPU model and missed
// Emerald Rapids): the exp is most of the softmax.
__attribute__((target_clones("avx512f", "avx2", "default"))) float softmax_row(float* s, int64_t n,
                                                                               int64_t visible, float scale) {
#if defined(FARM_SOFTMAX_AVX512)
  if (has_avx512()) {
    float row_max = -std::numeric_limits<float>::infinity();
    const float sum = softmax_avx512(s, visible, scale, &row_max);
    for (int64_t j = visible; j < n; ++j) s[j] = 0.0f;
    return sum;
  }
#endif
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

void softmax_columns(float* s, int64_t keys, int vecs, float scale, float* col_max, float* col_sum, float* alpha,
                     bool first) {
#if defined(FARM_SOFTMAX_AVX512)
  if (has_avx512()) {
    switch (vecs) {
      case 1: return softmax_columns_avx512<1>(s, keys, scale, col_max, col_sum, alpha, first);
      case 2: return softmax_columns_avx512<2>(s, keys, scale, col_max, col_sum, alpha, first);
      case 3: return softmax_columns_avx512<3>(s, keys, scale, col_max, col_sum, alpha, first);
      default: return softmax_columns_avx512<4>(s, keys, scale, col_max, col_sum, alpha, first);
    }
  }
#endif
  // Portable (the flash path runs only where AVX-512 does; kept for builds
  // without it).
  const int64_t lanes = 16 * int64_t{vecs};
  for (int64_t q = 0; q < lanes; ++q) {
    float m = first ? -std::numeric_limits<float>::infinity() : col_max[q];
    for (int64_t j = 0; j < keys; ++j) m = std::max(m, scale * s[j * lanes + q]);
    float sum = 0.0f;
    for (int64_t j = 0; j < keys; ++j) {
      s[j * lanes + q] = fast_exp(scale * s[j * lanes + q] - m);
      sum += s[j * lanes + q];
    }
    alpha[q] = first ? 0.0f : fast_exp(col_max[q] - m);
    col_sum[q] = first ? sum : col_sum[q] * alpha[q] + sum;
    col_max[q] = m;
  }
}

}  // namespace farm::kernels::cpu
