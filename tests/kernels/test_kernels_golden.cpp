// ref and cpu against PyTorch/diffusers goldens
// (tools/reference/make_kernel_reference.py -> tests/data/kernels/).
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <set>

#include "kernels/check/error_stats.h"
#include "tests/kernels/golden_file.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {
namespace {

const std::map<std::string, GoldenCase>& goldens() {
  static const std::map<std::string, GoldenCase> g = load_goldens(FARM_TEST_DATA "/kernels");
  return g;
}

struct Param {
  const Ops* ops;
  const KernelCase* kc;
};

// gtest prints a failing parameter with this instead of its raw bytes.
void PrintTo(const Param& p, std::ostream* os) { *os << p.ops->name << "/" << p.kc->name; }

class GoldenTest : public ::testing::TestWithParam<Param> {};

TEST_P(GoldenTest, MatchesTorch) {
  const Ops& ops = *GetParam().ops;
  const KernelCase& c = *GetParam().kc;
  const auto it = goldens().find(c.name);
  ASSERT_NE(it, goldens().end()) << "goldens.json lacks case " << c.name
                                 << "; rerun tools/reference/make_kernel_reference.py";
  const GoldenCase& g = it->second;
  ASSERT_EQ(g.op, op_name(c.op));

  // The shapes the golden was made with must be the ones the case names.
  std::vector<const float*> inputs;
  for (const TensorSpec& s : input_specs(c)) {
    const auto t = g.tensors.find(s.name);
    ASSERT_NE(t, g.tensors.end()) << "golden lacks input " << s.name;
    ASSERT_EQ(static_cast<int64_t>(t->second.data.size()), s.per_sample * (s.batched ? c.batch : 1))
        << "input " << s.name << " size differs from the case's shape";
    inputs.push_back(t->second.data.data());
  }
  const auto want = g.tensors.find("y");
  ASSERT_NE(want, g.tensors.end());
  const int64_t n = output_per_sample(c) * c.batch;
  ASSERT_EQ(static_cast<int64_t>(want->second.data.size()), n);

  std::vector<float> y(static_cast<size_t>(n), -12345.0f);
  run_case(ops, c, c.batch, inputs, y.data());
  const ErrorStats e = compare(y.data(), want->second.data.data(), n, c.vs_torch);
  std::printf("[%s vs torch] %-26s %s\n", ops.name, c.name.c_str(),
              describe(e, c.vs_torch).c_str());
  EXPECT_EQ(e.failures, 0) << describe(e, c.vs_torch);
}

std::vector<Param> params() {
  std::vector<Param> p;
  for (const Ops* ops : {&ref_ops(), &cpu_ops()})
    for (const KernelCase& c : kernel_cases())
      if (c.golden) p.push_back({ops, &c});
  return p;
}

INSTANTIATE_TEST_SUITE_P(Kernels, GoldenTest, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(info.param.ops->name) + "_" + info.param.kc->name;
                         });

TEST(GoldenFile, ListsExactlyTheGoldenCases) {
  std::set<std::string> listed, stored;
  for (const KernelCase& c : kernel_cases())
    if (c.golden) listed.insert(c.name);
  for (const auto& [name, g] : goldens()) stored.insert(name);
  EXPECT_EQ(listed, stored);
}

}  // namespace
}  // namespace farm::kernels::testing
