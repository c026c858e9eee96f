// The cpu fast path against the plain reference on random inputs, every
// case that is small enough for ref.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "kernels/check/error_stats.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {
namespace {

std::vector<float> run(const Ops& ops, const KernelCase& c, int64_t batch,
                       const std::vector<std::vector<float>>& inputs) {
  std::vector<const float*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(t.data());
  // A value no kernel produces, so writes outside the output's elements
  // (attention's out_stride gaps) are seen.
  std::vector<float> y(static_cast<size_t>(output_per_sample(c) * batch), -12345.0f);
  run_case(ops, c, batch, ptrs, y.data());
  return y;
}

class CpuVsRefTest : public ::testing::TestWithParam<const KernelCase*> {};

TEST_P(CpuVsRefTest, MatchesRef) {
  const KernelCase& c = *GetParam();
  const auto inputs = random_inputs(c, c.batch, std::hash<std::string>{}(c.name));
  const auto want = run(ref_ops(), c, c.batch, inputs);
  const auto got = run(cpu_ops(), c, c.batch, inputs);
  const ErrorStats e = compare(got.data(), want.data(), static_cast<int64_t>(got.size()), c.vs_ref);
  std::printf("[cpu vs ref] %-30s %s\n", c.name.c_str(), describe(e, c.vs_ref).c_str());
  EXPECT_EQ(e.failures, 0) << describe(e, c.vs_ref);
}

std::vector<const KernelCase*> cases() {
  std::vector<const KernelCase*> p;
  for (const KernelCase& c : kernel_cases())
    if (!c.sd15) p.push_back(&c);
  return p;
}

INSTANTIATE_TEST_SUITE_P(Kernels, CpuVsRefTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<const KernelCase*>& info) {
                           return info.param->name;
                         });

// The ops that allow y to alias x must give the same bits in place.
TEST(CpuInPlace, NormsAndPointwiseMayAliasInput) {
  for (const KernelCase& c : kernel_cases()) {
    const bool may_alias = c.op == OpKind::group_norm || c.op == OpKind::layer_norm ||
                           c.op == OpKind::silu || c.op == OpKind::gelu ||
                           c.op == OpKind::quick_gelu || c.op == OpKind::add;
    if (c.sd15 || !may_alias) continue;
    auto inputs = random_inputs(c, c.batch, 7);
    const auto separate = run(cpu_ops(), c, c.batch, inputs);
    std::vector<const float*> ptrs;
    for (const auto& t : inputs) ptrs.push_back(t.data());
    run_case(cpu_ops(), c, c.batch, ptrs, inputs[0].data());
    EXPECT_EQ(inputs[0], separate) << c.name;
  }
}

// conv2d and linear accept residual == y (an in-place skip add).
TEST(InPlaceResidual, ResidualMayAliasOutput) {
  for (const Ops* ops : {&ref_ops(), &cpu_ops()}) {
    for (const KernelCase& c : kernel_cases()) {
      if (c.sd15 || !c.residual) continue;
      const auto inputs = random_inputs(c, c.batch, 11);
      const auto separate = run(*ops, c, c.batch, inputs);
      std::vector<float> y = inputs.back();  // residual is the last input
      std::vector<const float*> ptrs;
      for (const auto& t : inputs) ptrs.push_back(t.data());
      ptrs.back() = y.data();
      run_case(*ops, c, c.batch, ptrs, y.data());
      EXPECT_EQ(y, separate) << ops->name << " " << c.name;
    }
  }
}

}  // namespace
}  // namespace farm::kernels::testing
