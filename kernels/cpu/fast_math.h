// Branch-free exp and erfc the compiler can vectorise (glibc's are scalar
// calls), for the softmax and the activations, where the scalar versions
// cost as much as the GEMMs around them. They need -fno-trapping-math (set
// for kernels_cpu) for GCC to if-convert their selects.
//
// fast_exp: Cephes' polynomial on x - n·ln2, times 2^n built in the exponent
// bits. Relative error about 2 ulp over [-87, 88]; inputs are clamped to that
// range, so exp(-inf) gives ~2^-125 instead of 0 (negligible beside a softmax
// row sum >= 1, or 1 + exp(-x) in SiLU).
#pragma once

#include <bit>
#include <cstdint>

namespace farm::kernels::cpu {

inline float fast_exp(float x) {
  // Selects, not std::min/max (which return references and keep the loop
  // from vectorising).
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Round x·log2(e) to the nearest integer n: adding 1.5·2^23 leaves n in the
  // low mantissa bits.
  constexpr float kShifter = 12582912.0f;
  const float shifted = x * 1.44269504088896341f + kShifter;
  const float n = shifted - kShifter;
  const int32_t n_int = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kShifter);
  // r = x - n·ln2 in two parts so r keeps full precision; |r| <= ln2/2.
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((n_int + 127) << 23);
}

// erfc by Numerical Recipes' erfcc (a Chebyshev fit with fractional error
// below 1.2e-7 everywhere), evaluated in float: about 1e-6 relative for
// |x| < 4, where the exp(-x²) argument loses a few ulp.
inline float fast_erfc(float x) {
  const float z = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float erfc_z = t * fast_exp(p - z * z);
  return x < 0.0f ? 2.0f - erfc_z : erfc_z;
}

// 0.5·x·(1 + erf(x/√2)) through erfc, which keeps its precision for x << 0.
inline float fast_gelu(float x) { return 0.5f * x * fast_erfc(-x * 0.70710678118654752f); }

// x · sigmoid(x) from e = exp(-|x|) in (0, 1], never exp(+|x|): for
// x / (1 + exp(-x)) GCC if-converted fast_exp's clamp into dividing every
// lane by 1 + exp(88), and the denormal quotients took a microcode assist
// each (5 ns per value instead of 1).
inline float fast_silu(float x) {
  const float e = fast_exp(x < 0.0f ? x : -x);
  return x < 0.0f ? x * e / (1.0f + e) : x / (1.0f + e);
}

}  // namespace farm::kernels::cpu
