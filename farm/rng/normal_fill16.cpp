// Scalar replay of ATen/native/cpu/avx_mathfun.h and DistributionTemplates.h
// (NormalFill16). Each line below is one _mm256_* op of the original. torch's
// x86 wheels are built by GCC with -mfma and its default -ffp-contract=fast,
// which fuses every _mm256_mul_ps whose only uses are adds into an FMA; the
// std::fma calls below sit exactly where GCC fuses (found against torch's
// bits: without them ~1% of values differ in the last place). Everything
// else must round separately, so CMake compiles this file with
// -ffp-contract=off.
#include "farm/rng/normal_fill16.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace farm::rng {
namespace {

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Constants as the original's float arrays hold them (double literals
// rounded to float).
constexpr float kSqrtHf = static_cast<float>(0.707106781186547524);
constexpr float kLogP[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                            -1.2420140846E-1f, +1.4249322787E-1f, -1.6668057665E-1f,
                            +2.0000714765E-1f, -2.4999993993E-1f, +3.3333331174E-1f};
constexpr float kLogQ1 = -2.12194440e-4f;
constexpr float kLogQ2 = 0.693359375f;
constexpr float kMinusDp1 = -0.78515625f;
constexpr float kMinusDp2 = -2.4187564849853515625e-4f;
constexpr float kMinusDp3 = static_cast<float>(-3.77489497744594108e-8);
constexpr float kSinP0 = -1.9515295891E-4f;
constexpr float kSinP1 = 8.3321608736E-3f;
constexpr float kSinP2 = -1.6666654611E-1f;
constexpr float kCosP0 = static_cast<float>(2.443315711809948E-005);
constexpr float kCosP1 = static_cast<float>(-1.388731625493765E-003);
constexpr float kCosP2 = static_cast<float>(4.166664568298827E-002);
constexpr float kFourOverPi = static_cast<float>(1.27323954473516);

// log256_ps for one lane; x > 0 here (u1 is in (0, 1]).
float cephes_logf(float x) {
  const float min_norm_pos = from_bits(0x00800000u);
  x = x > min_norm_pos ? x : min_norm_pos;  // _mm256_max_ps(x, min) for non-NaN x
  int32_t imm0 = static_cast<int32_t>(bits(x) >> 23);
  x = from_bits((bits(x) & ~0x7f800000u) | bits(0.5f));
  imm0 -= 0x7f;
  float e = static_cast<float>(imm0);
  e = e + 1.0f;
  const bool mask = x < kSqrtHf;
  const float tmp_x = mask ? x : 0.0f;
  x = x - 1.0f;
  e = e - (mask ? 1.0f : 0.0f);
  x = x + tmp_x;
  const float z = x * x;
  float y = kLogP[0];
  for (int k = 1; k < 9; ++k) y = std::fma(y, x, kLogP[k]);
  y = y * x;
  y = std::fma(y, z, e * kLogQ1);
  y = std::fma(-z, 0.5f, y);
  x = x + y;
  x = std::fma(e, kLogQ2, x);
  return x;
}

// sincos256_ps for one lane.
void cephes_sincosf(float x, float* s, float* c) {
  uint32_t sign_bit_sin = bits(x) & 0x80000000u;
  x = from_bits(bits(x) & 0x7fffffffu);
  float y = x * kFourOverPi;
  int32_t imm2 = static_cast<int32_t>(y);  // cvttps: truncate
  imm2 = (imm2 + 1) & ~1;
  y = static_cast<float>(imm2);
  int32_t imm4 = imm2;
  const uint32_t swap_sign_bit_sin = static_cast<uint32_t>(imm2 & 4) << 29;
  const bool poly_mask = (imm2 & 2) == 0;
  x = std::fma(y, kMinusDp1, x);
  x = std::fma(y, kMinusDp2, x);
  x = std::fma(y, kMinusDp3, x);
  imm4 = imm4 - 2;
  const uint32_t sign_bit_cos = static_cast<uint32_t>(~imm4 & 4) << 29;
  sign_bit_sin ^= swap_sign_bit_sin;

  const float z = x * x;
  float yc = std::fma(kCosP0, z, kCosP1);
  yc = std::fma(yc, z, kCosP2);
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;

  float ys = std::fma(kSinP0, z, kSinP1);
  ys = std::fma(ys, z, kSinP2);
  ys = ys * z;
  ys = std::fma(ys, x, x);

  // The original selects with and/andnot and adds the two halves; adding
  // +0.0f is kept because it turns a -0 into +0 exactly as torch does.
  const float ysin2 = poly_mask ? ys : 0.0f;
  const float ysin1 = poly_mask ? 0.0f : yc;
  const float ycos2 = ys - ysin2;
  const float ycos1 = yc - ysin1;
  const float sin_v = ysin1 + ysin2;
  const float cos_v = ycos1 + ycos2;
  *s = from_bits(bits(sin_v) ^ sign_bit_sin);
  *c = from_bits(bits(cos_v) ^ sign_bit_cos);
}

}  // namespace

void normal_fill16_avx2(float* data) {
  const float two_pi = static_cast<float>(2.0f * 3.14159265358979323846);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * cephes_logf(u1));
    const float theta = two_pi * u2;
    float sin_t, cos_t;
    cephes_sincosf(theta, &sin_t, &cos_t);
    // fmadd(n, std=1, mean=0): n*1 is exact, "+ 0" maps -0 to +0 like the fma.
    data[j] = radius * cos_t + 0.0f;
    data[j + 8] = radius * sin_t + 0.0f;
  }
}

void normal_fill16_scalar(float* data) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    // torch: theta = 2.0f * pi<double> * u2, computed in double, stored as float.
    const float theta = static_cast<float>(2.0 * 3.14159265358979323846 * static_cast<double>(u2));
    data[j] = std::fma(radius * std::cos(theta), 1.0f, 0.0f);
    data[j + 8] = std::fma(radius * std::sin(theta), 1.0f, 0.0f);
  }
}

}  // namespace farm::rng
