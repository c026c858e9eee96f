// fp16/bf16 and fast-math intrinsics against <cmath> in double, within one
// unit in the last place of the result type (the GPU's own error bound for
// these approximate intrinsics is of the same order).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

TEST(EmuHalf, IntrinsicsMatchTheMathLibrary) {
  // All inputs are exact in fp16 and bf16.
  const std::vector<float> in = {0.25f, 1.0f, 2.0f, 2.5f, 3.5f, -1.5f, 4.0f, 0.375f, -2.5f, 10.0f};
  const int n = static_cast<int>(in.size());
  DeviceBuffer<float> din(in), dout(12 * n);
  half_intrinsics(din.get(), dout.get(), n);
  const auto o = dout.to_host();
  const double h_ulp = std::ldexp(1.0, -10), b_ulp = std::ldexp(1.0, -7);
  for (int i = 0; i < n; ++i) {
    const double x = in[i];
    SCOPED_TRACE(::testing::Message() << "x = " << x);
    if (x >= 0) {
      EXPECT_NEAR(o[0 * n + i], std::sqrt(x), h_ulp * std::sqrt(x));
    }
    if (x <= 8) {
      EXPECT_NEAR(o[1 * n + i], std::exp(x), h_ulp * std::exp(x));
    }
    EXPECT_NEAR(o[2 * n + i], x * x + 1, h_ulp * (x * x + 1));
    EXPECT_EQ(o[3 * n + i], std::nearbyint(x));  // round half to even
    if (x >= 0) {
      EXPECT_NEAR(o[4 * n + i], std::sqrt(x), b_ulp * std::sqrt(x));
    }
    EXPECT_NEAR(o[5 * n + i], std::exp(x), b_ulp * std::exp(x));
    EXPECT_NEAR(o[6 * n + i], x * x + 1, b_ulp * (x * x + 1));
    EXPECT_NEAR(o[7 * n + i], std::exp(x), 4e-7 * std::exp(x));
    EXPECT_NEAR(o[8 * n + i], x / 3, 2e-7 * std::fabs(x / 3));
    EXPECT_NEAR(o[9 * n + i], 1 / std::sqrt(std::fabs(x) + 1), 2e-7);
    EXPECT_EQ(o[10 * n + i], 2 * (2 * x + 0.5));
    EXPECT_NEAR(o[11 * n + i], 1 / std::sqrt(std::fabs(x) + 1), h_ulp);
  }
  EXPECT_EQ(o[3 * n + 3], 2.0f);  // __half2int_rn(2.5)
  EXPECT_EQ(o[3 * n + 4], 4.0f);  // __half2int_rn(3.5)
}

}  // namespace
}  // namespace farm::emu_test
