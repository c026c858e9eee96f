// binary16 (__half) and bfloat16 encodings to and from float/double, for the
// emulator's cuda_fp16.h and cuda_bf16.h. Bit-exact with the toolkit's host
// conversions and the GPU's cvt.rn: round to nearest, ties to even; overflow
// rounds to infinity; every NaN becomes the canonical 0x7fff (sign dropped);
// a binary16 NaN widens to the float NaN 0x7fffffff, a bfloat16 NaN keeps its
// bits (the toolkit does the same). Checked against an independent rounding
// by tests/emu/test_float16_conversions.cpp.
#pragma once

#include <cstdint>
#include <cstring>

namespace farm::emu::float16 {

struct Format {
  int mantissa_bits;
  int exponent_bias;
};
inline constexpr Format kHalf{10, 15};
inline constexpr Format kBfloat16{7, 127};
inline constexpr uint16_t kCanonicalNan = 0x7fff;

// Rounds once from double, which holds every float exactly, so one routine
// serves the float and the double conversions.
inline uint16_t encode(double v, Format f) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  const auto sign = static_cast<uint16_t>((b >> 48) & 0x8000u);
  const uint64_t mag = b & ~(uint64_t{1} << 63);
  const uint64_t inf = ((uint64_t{1} << (15 - f.mantissa_bits)) - 1) << f.mantissa_bits;
  if (mag > 0x7ff0000000000000u) return kCanonicalNan;
  if (mag == 0x7ff0000000000000u) return static_cast<uint16_t>(sign | inf);
  const int biased = static_cast<int>(mag >> 52);
  if (biased == 0) return sign;  // double subnormals lie far below half a 16-bit subnormal
  // v = m * 2^(e - 52) with m in [2^52, 2^53).
  const int e = biased - 1023;
  const uint64_t m = (mag & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 52);
  // The result's binade: v's own, or the subnormal range's below the normals.
  const int emin = 1 - f.exponent_bias;
  const int e_result = e > emin ? e : emin;
  const int shift = 52 - f.mantissa_bits + (e_result - e);  // m >> shift = v in units of the result's last place
  if (shift > 53) return sign;                              // |v| < half the smallest subnormal
  uint64_t n = m >> shift;
  const uint64_t rest = m & ((uint64_t{1} << shift) - 1), halfway = uint64_t{1} << (shift - 1);
  if (rest > halfway || (rest == halfway && (n & 1))) ++n;
  // n includes the implicit leading bit, so adding it to the exponent field
  // minus one encodes normals; subnormals have field 0 and n < 2^mantissa_bits.
  // A carry out of the mantissa moves to the next binade, past the largest
  // finite value to infinity.
  const uint64_t bits = (static_cast<uint64_t>(e_result + f.exponent_bias - 1) << f.mantissa_bits) + n;
  return static_cast<uint16_t>(sign | (bits < inf ? bits : inf));
}

inline float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float decode_half(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return float_from_bits(mantissa ? 0x7fffffffu : sign | 0x7f800000u);
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact
    return sign ? -magnitude : magnitude;
  }
  return float_from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// bfloat16 is the upper half of a float.
inline float decode_bfloat16(uint16_t b) { return float_from_bits(uint32_t{b} << 16); }

}  // namespace farm::emu::float16

// The toolkit's host operators on one 16-bit value: computed in float and
// rounded once to the type (a non-member per operator, as in the toolkit, so
// mixed expressions such as `h * 2.0f` resolve, or fail to, the same way).
#define FARM_EMU_FLOAT16_OPERATORS(T, to_float, from_float)                                    \
  inline T operator+(const T& a, const T& b) { return from_float(to_float(a) + to_float(b)); } \
  inline T operator-(const T& a, const T& b) { return from_float(to_float(a) - to_float(b)); } \
  inline T operator*(const T& a, const T& b) { return from_float(to_float(a) * to_float(b)); } \
  inline T operator/(const T& a, const T& b) { return from_float(to_float(a) / to_float(b)); } \
  inline T& operator+=(T& a, const T& b) { return a = a + b; }                                 \
  inline T& operator-=(T& a, const T& b) { return a = a - b; }                                 \
  inline T& operator*=(T& a, const T& b) { return a = a * b; }                                 \
  inline T& operator/=(T& a, const T& b) { return a = a / b; }                                 \
  inline T operator+(const T& a) { return a; }                                                 \
  inline T operator-(const T& a) { return from_float(-to_float(a)); }                          \
  inline bool operator==(const T& a, const T& b) { return to_float(a) == to_float(b); }        \
  inline bool operator!=(const T& a, const T& b) { return to_float(a) != to_float(b); }        \
  inline bool operator<(const T& a, const T& b) { return to_float(a) < to_float(b); }          \
  inline bool operator>(const T& a, const T& b) { return to_float(a) > to_float(b); }          \
  inline bool operator<=(const T& a, const T& b) { return to_float(a) <= to_float(b); }        \
  inline bool operator>=(const T& a, const T& b) { return to_float(a) >= to_float(b); }
