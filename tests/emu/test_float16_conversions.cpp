// The emulator's fp16/bf16 conversions (kernels/emu/include/cuda_fp16.h,
// cuda_bf16.h) against an independent rounding: every finite 16-bit value is
// decoded from its bit fields with std::ldexp, and a float or double rounds to
// the nearer of the two values around it, the one with the even bit pattern
// on a tie, to infinity from half-way past the largest finite value. The
// toolkit's own conversions (and the GPU's cvt.rn) do exactly this; NaN
// becomes 0x7fff as the toolkit's do. Checked: every bit pattern, every tie,
// its neighbours on both sides, subnormals, overflow, and random inputs.
// The file also compiles against the toolkit's headers, and passes there: the
// reference and the toolkit agree.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace farm::emu_test {
namespace {

struct Layout {
  const char* name;
  int mantissa_bits;
  int exponent_bias;
};
constexpr Layout kHalf{"fp16", 10, 15};
constexpr Layout kBf16{"bf16", 7, 127};

int exponent_max_field(const Layout& l) { return (1 << (15 - l.mantissa_bits)) - 1; }
uint16_t inf_bits(const Layout& l) { return static_cast<uint16_t>(exponent_max_field(l) << l.mantissa_bits); }

// The value of a finite non-negative bit pattern, from its fields.
double reference_value(const Layout& l, uint16_t bits) {
  const int field = bits >> l.mantissa_bits;
  const int fraction = bits & ((1 << l.mantissa_bits) - 1);
  if (field == 0) return std::ldexp(fraction, 1 - l.exponent_bias - l.mantissa_bits);
  return std::ldexp(fraction + (1 << l.mantissa_bits), field - l.exponent_bias - l.mantissa_bits);
}

// Every finite non-negative value in increasing order, then the value where
// the next binade would start, standing for infinity in the rounding.
std::vector<std::pair<double, uint16_t>> reference_table(const Layout& l) {
  std::vector<std::pair<double, uint16_t>> t;
  for (uint32_t b = 0; b < inf_bits(l); ++b) t.emplace_back(reference_value(l, static_cast<uint16_t>(b)), b);
  std::sort(t.begin(), t.end());
  t.emplace_back(std::ldexp(1.0, exponent_max_field(l) - l.exponent_bias), inf_bits(l));
  return t;
}

uint16_t reference_round(const std::vector<std::pair<double, uint16_t>>& t, double x) {
  if (std::isnan(x)) return 0x7fff;
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (a >= t.back().first) return sign | t.back().second;
  // t[i-1] <= a < t[i]; the midpoint of two 16-bit values is exact in double.
  const auto hi = std::upper_bound(t.begin(), t.end(), std::make_pair(a, uint16_t{0xffff}));
  const auto lo = hi - 1;
  const double mid = (lo->first + hi->first) / 2;
  if (a < mid) return sign | lo->second;
  if (a > mid) return sign | hi->second;
  return sign | ((lo->second & 1) ? hi->second : lo->second);
}

uint16_t bits_of(__half h) { return static_cast<__half_raw>(h).x; }
uint16_t bits_of(__nv_bfloat16 h) { return static_cast<__nv_bfloat16_raw>(h).x; }
__half half_from(uint16_t b) { return __half(__half_raw{b}); }
__nv_bfloat16 bf16_from(uint16_t b) { return __nv_bfloat16(__nv_bfloat16_raw{b}); }
uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Inputs around every rounding decision: each midpoint between neighbouring
// values (ties, including the one at the overflow threshold) and the floats or
// doubles just below and above it, plus special and random values.
template <class F>
std::vector<F> inputs(const std::vector<std::pair<double, uint16_t>>& t) {
  std::vector<F> v = {0.0f, std::numeric_limits<F>::infinity(), std::numeric_limits<F>::max(),
                      std::numeric_limits<F>::min(), std::numeric_limits<F>::denorm_min(),
                      std::numeric_limits<F>::quiet_NaN(), std::numeric_limits<F>::signaling_NaN()};
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    const double mid = (t[i].first + t[i + 1].first) / 2;
    const auto m = static_cast<F>(mid);
    EXPECT_EQ(static_cast<double>(m), mid) << "tie not exact in the input type";
    v.insert(v.end(), {m, std::nextafter(m, F{0}), std::nextafter(m, std::numeric_limits<F>::infinity()),
                       static_cast<F>(t[i].first)});
  }
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 1'000'000; ++i) {
    if constexpr (sizeof(F) == 4) {
      v.push_back(float_from_bits(static_cast<uint32_t>(rng())));
    } else {
      // Doubles of the 16-bit formats' exponent range, all 52 fraction bits.
      const int e = static_cast<int>(rng() % 320) - 160;
      v.push_back(std::ldexp(1.0 + std::ldexp(static_cast<double>(rng() >> 12), -52), e));
    }
  }
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  return v;
}

template <class F, class Convert>
void expect_rounds_as_reference(const Layout& l, Convert convert) {
  const auto t = reference_table(l);
  int failures = 0;
  for (const F x : inputs<F>(t)) {
    const uint16_t want = reference_round(t, x), got = convert(x);
    if (want != got && ++failures <= 10)
      ADD_FAILURE() << l.name << " of " << std::hexfloat << x << ": got 0x" << std::hex << got << ", want 0x" << want;
  }
  EXPECT_EQ(failures, 0);
}

TEST(EmuFloat16, FloatToHalfRoundsToNearestEven) {
  expect_rounds_as_reference<float>(kHalf, [](float x) { return bits_of(__float2half_rn(x)); });
  expect_rounds_as_reference<float>(kHalf, [](float x) { return bits_of(__float2half(x)); });
  expect_rounds_as_reference<float>(kHalf, [](float x) { return bits_of(__half(x)); });
}

TEST(EmuFloat16, FloatToBfloat16RoundsToNearestEven) {
  expect_rounds_as_reference<float>(kBf16, [](float x) { return bits_of(__float2bfloat16_rn(x)); });
  expect_rounds_as_reference<float>(kBf16, [](float x) { return bits_of(__float2bfloat16(x)); });
  expect_rounds_as_reference<float>(kBf16, [](float x) { return bits_of(__nv_bfloat16(x)); });
}

// __hfma and the other device intrinsics round from double once.
TEST(EmuFloat16, DoubleConversionsRoundOnce) {
  expect_rounds_as_reference<double>(kHalf, [](double x) { return bits_of(__double2half(x)); });
  expect_rounds_as_reference<double>(kBf16, [](double x) { return bits_of(__double2bfloat16(x)); });
}

TEST(EmuFloat16, EveryBitPatternDecodesAndRoundTrips) {
  for (uint32_t u = 0; u < 65536; ++u) {
    const auto b = static_cast<uint16_t>(u);
    const uint16_t magnitude = b & 0x7fff;
    const double sign = (b & 0x8000) ? -1.0 : 1.0;
    const float h = __half2float(half_from(b)), bf = __bfloat162float(bf16_from(b));
    if (magnitude > inf_bits(kHalf)) {
      EXPECT_EQ(float_bits(h), 0x7fffffffu) << std::hex << b;  // the toolkit's NaN
      EXPECT_EQ(bits_of(__float2half_rn(h)), 0x7fff) << std::hex << b;
    } else {
      const double want = magnitude == inf_bits(kHalf) ? INFINITY : reference_value(kHalf, magnitude);
      EXPECT_EQ(static_cast<double>(h), sign * want) << std::hex << b;
      EXPECT_EQ(std::signbit(h), (b & 0x8000) != 0) << std::hex << b;
      EXPECT_EQ(bits_of(__float2half_rn(h)), b) << std::hex << b;
    }
    EXPECT_EQ(float_bits(bf), u << 16) << std::hex << b;  // bf16 is the top of a float, NaNs too
    if (magnitude > inf_bits(kBf16)) {
      EXPECT_EQ(bits_of(__float2bfloat16_rn(bf)), 0x7fff) << std::hex << b;
    } else {
      const double want = magnitude == inf_bits(kBf16) ? INFINITY : reference_value(kBf16, magnitude);
      EXPECT_EQ(static_cast<double>(bf), sign * want) << std::hex << b;
      EXPECT_EQ(bits_of(__float2bfloat16_rn(bf)), b) << std::hex << b;
    }
    EXPECT_EQ(__hisnan(half_from(b)), magnitude > inf_bits(kHalf)) << std::hex << b;
    EXPECT_EQ(__hisnan(bf16_from(b)), magnitude > inf_bits(kBf16)) << std::hex << b;
  }
}

// Values whose encodings are widely published (IEEE 754 binary16, bfloat16).
TEST(EmuFloat16, KnownEncodings) {
  EXPECT_EQ(bits_of(__float2half_rn(1.0f)), 0x3c00);
  EXPECT_EQ(bits_of(__float2half_rn(0.1f)), 0x2e66);
  EXPECT_EQ(bits_of(__float2half_rn(1.0f / 3)), 0x3555);
  EXPECT_EQ(bits_of(__float2half_rn(3.14159265f)), 0x4248);
  EXPECT_EQ(bits_of(__float2half_rn(65504.0f)), 0x7bff);
  EXPECT_EQ(bits_of(__float2half_rn(65519.0f)), 0x7bff);
  EXPECT_EQ(bits_of(__float2half_rn(65520.0f)), 0x7c00);  // the tie at the top goes to infinity
  EXPECT_EQ(bits_of(__float2half_rn(-1e10f)), 0xfc00);
  EXPECT_EQ(bits_of(__float2half_rn(0x1p-24f)), 0x0001);    // smallest subnormal
  EXPECT_EQ(bits_of(__float2half_rn(0x1p-25f)), 0x0000);    // tie with zero: even
  EXPECT_EQ(bits_of(__float2half_rn(0x1.8p-24f)), 0x0002);  // tie between 1 and 2 ulps: even
  EXPECT_EQ(bits_of(__float2half_rn(-0x1p-26f)), 0x8000);
  EXPECT_EQ(bits_of(__float2half_rn(0x1.ffcp-15f)), 0x0400);  // tie above the largest subnormal: up into the normals
  EXPECT_EQ(bits_of(__float2bfloat16_rn(1.0f)), 0x3f80);
  EXPECT_EQ(bits_of(__float2bfloat16_rn(0.1f)), 0x3dcd);
  EXPECT_EQ(bits_of(__float2bfloat16_rn(3.14159265f)), 0x4049);
  EXPECT_EQ(bits_of(__float2bfloat16_rn(std::numeric_limits<float>::max())), 0x7f80);
  EXPECT_EQ(bits_of(__float2bfloat16_rn(float_from_bits(0x3f808000))), 0x3f80);  // tie: even
  EXPECT_EQ(bits_of(__float2bfloat16_rn(float_from_bits(0x3f818000))), 0x3f82);  // tie: even
  EXPECT_EQ(bits_of(__float2bfloat16_rn(-std::numeric_limits<float>::quiet_NaN())), 0x7fff);
  EXPECT_EQ(bits_of(__int2half_rn(2049)), 0x6800);  // 2048: the tie at 2049 goes to even
  EXPECT_EQ(bits_of(__int2half_rn(-70000)), 0xfc00);
}

}  // namespace
}  // namespace farm::emu_test
