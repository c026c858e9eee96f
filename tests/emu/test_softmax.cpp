// Warp-shuffle softmax against the formula evaluated in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

TEST(EmuSoftmax, MatchesDoublePrecisionFormula) {
  for (const int threads : {32, 128, 256}) {
    const int rows = 6, cols = 1000;
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(rows) * cols);
    for (auto& v : x) v = d(rng);
    DeviceBuffer<float> dx(x), dy(x.size());
    softmax_rows(dx.get(), dy.get(), rows, cols, threads);
    const auto y = dy.to_host();
    for (int r = 0; r < rows; ++r) {
      double m = -INFINITY, s = 0;
      for (int c = 0; c < cols; ++c) m = std::max(m, double{x[r * cols + c]});
      for (int c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
      for (int c = 0; c < cols; ++c) {
        const double want = std::exp(x[r * cols + c] - m) / s;
        // fp32 exp and a 1000-term fp32 sum: a few ulp of relative error.
        ASSERT_NEAR(y[r * cols + c], want, 1e-5 * want + 1e-9) << "threads " << threads << " row " << r << " col " << c;
      }
    }
  }
}

}  // namespace
}  // namespace farm::emu_test
