// The fp32 cpu GEGLU fused into its projection (Ops::linear_geglu) against
// ref's linear followed by ref's geglu, and against the unfused cpu path
// on the same implicit GEMM (same bits: the fusion moves no sum). Shapes
// cover a ragged last 32-column half-panel (inner 40: 32 + 8), a half-panel
// of exactly 16, a k past one 128-k chunk, bands that cross samples, no
// bias, and a long k walked in blocks (1100: bands of 128 rows).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/f32_gemm.h"
#include "kernels/ops.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels {
namespace {

struct Shape {
  int64_t batch, rows, in, inner;
  bool bias;
};

struct Inputs {
  std::vector<float> x, w, b;
};

Inputs draw(const Shape& s, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  Inputs in;
  in.x.resize(static_cast<size_t>(s.batch * s.rows * s.in));
  in.w.resize(static_cast<size_t>(2 * s.inner * s.in));
  in.b.resize(static_cast<size_t>(2 * s.inner));
  for (auto& v : in.x) v = d(g);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.in));
  for (auto& v : in.w) v = d(g) * scale;
  for (auto& v : in.b) v = d(g) * 0.5f;
  return in;
}

std::vector<float> fused(const Shape& s, const Inputs& in, int64_t batch, const float* x) {
  std::vector<float> y(static_cast<size_t>(batch * s.rows * s.inner), -12345.0f);
  cpu_ops().linear_geglu(batch, s.rows, s.in, s.inner, x, in.w.data(), s.bias ? in.b.data() : nullptr, y.data());
  return y;
}

// Two ops, as a backend without the fused kernel runs them.
std::vector<float> unfused(const Ops& ops, const Shape& s, const Inputs& in) {
  const int64_t m = s.batch * s.rows;
  std::vector<float> proj(static_cast<size_t>(m * 2 * s.inner)), y(static_cast<size_t>(m * s.inner));
  ops.linear(s.batch, s.rows, s.in, 2 * s.inner, in.x.data(), in.w.data(), s.bias ? in.b.data() : nullptr, nullptr,
             proj.data());
  ops.geglu(m, s.inner, proj.data(), y.data());
  return y;
}

class LinearGegluTest : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    if (!cpu_ops().linear_geglu) GTEST_SKIP() << "no AVX-512 fp32 kernel on this CPU (or FARM_CPU_F32=blas)";
  }
};

TEST_P(LinearGegluTest, MatchesRefLinearThenGeglu) {
  const Shape s = GetParam();
  const Inputs in = draw(s, 7);
  const auto got = fused(s, in, s.batch, in.x.data());
  const auto want = unfused(ref_ops(), s, in);
  // Each output is hidden · gelu(gate) of two length-`in` dot products
  // summed in another order: a few ulp of O(1) values, scaled by the
  // factors' size (|gelu'| ≤ 1.13).
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 2e-5 + 2e-5 * std::fabs(want[i])) && bad++ < 5)
      ADD_FAILURE() << "y[" << i << "] = " << got[i] << ", ref " << want[i];
  EXPECT_EQ(bad, 0);
}

TEST_P(LinearGegluTest, SameBitsAsTheUnfusedImplicitGemm) {
  const Shape s = GetParam();
  const Inputs in = draw(s, 8);
  const int64_t m = s.batch * s.rows;
  std::vector<float> proj(static_cast<size_t>(m * 2 * s.inner)), want(static_cast<size_t>(m * s.inner));
  const cpu::RowPointers rows = [&](int64_t m0, int count, int64_t, const float** p) {
    for (int i = 0; i < count; ++i) p[i] = in.x.data() + (m0 + i) * s.in;
  };
  cpu::gemm_f32(m, 1, s.in, rows, in.w.data(), 2 * s.inner, s.bias ? in.b.data() : nullptr, nullptr, proj.data(),
                cpu::linear_band(s.in));
  cpu::geglu(m, s.inner, proj.data(), want.data());
  const auto got = fused(s, in, s.batch, in.x.data());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(float) * want.size()), 0);
}

TEST_P(LinearGegluTest, SampleAloneEqualsSampleInBatchOnAnyThreadCount) {
  const Shape s = GetParam();
  const Inputs in = draw(s, 9);
  const auto batched = fused(s, in, s.batch, in.x.data());
  const int64_t last = s.batch - 1, per = s.rows * s.inner;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto alone = fused(s, in, 1, in.x.data() + last * s.rows * s.in);
  omp_set_num_threads(threads);
  EXPECT_EQ(std::memcmp(alone.data(), batched.data() + last * per, sizeof(float) * per), 0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearGegluTest,
                         ::testing::Values(Shape{2, 7, 33, 40, true}, Shape{3, 5, 200, 48, false},
                                           Shape{2, 77, 320, 1280, true}, Shape{3, 300, 96, 72, true},
                                           Shape{1, 600, 130, 16, true},
                                           Shape{2, 150, 1100, 40, true}));

}  // namespace
}  // namespace farm::kernels
