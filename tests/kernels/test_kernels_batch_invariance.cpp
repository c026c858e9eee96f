// Invariant 1 of ARCHITECTURE.md: sample i of a batch-3 call is bit-identical
// to the same sample run alone, on every backend; and the cpu backend gives
// the same bits with one thread as with all of them (nodes with different
// core counts render the same image).
#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <functional>
#include <ostream>

#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {
namespace {

struct Param {
  const Ops* ops;
  const KernelCase* kc;
};

// gtest prints a failing parameter with this instead of its raw bytes.
void PrintTo(const Param& p, std::ostream* os) { *os << p.ops->name << "/" << p.kc->name; }

class BatchInvarianceTest : public ::testing::TestWithParam<Param> {};

TEST_P(BatchInvarianceTest, SampleAloneEqualsSampleInBatch) {
  const Ops& ops = *GetParam().ops;
  const KernelCase& c = *GetParam().kc;
  constexpr int64_t kBatch = 3;
  const auto specs = input_specs(c);
  const auto inputs = random_inputs(c, kBatch, std::hash<std::string>{}(c.name) + 1);
  const int64_t out_n = output_per_sample(c);

  std::vector<const float*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(t.data());
  std::vector<float> batched(static_cast<size_t>(out_n * kBatch), -12345.0f);
  run_case(ops, c, kBatch, ptrs, batched.data());

  for (int64_t i = 0; i < kBatch; ++i) {
    // Copy sample i to its own buffers so alignment and neighbours differ too.
    std::vector<std::vector<float>> alone_in;
    std::vector<const float*> alone_ptrs;
    for (size_t t = 0; t < specs.size(); ++t) {
      const int64_t n = specs[t].per_sample;
      const float* src = inputs[t].data() + (specs[t].batched ? i * n : 0);
      alone_in.emplace_back(src, src + n);
      alone_ptrs.push_back(alone_in.back().data());
    }
    std::vector<float> alone(static_cast<size_t>(out_n), -12345.0f);
    run_case(ops, c, 1, alone_ptrs, alone.data());
    EXPECT_EQ(std::memcmp(alone.data(), batched.data() + i * out_n, sizeof(float) * out_n), 0)
        << ops.name << " " << c.name << ": sample " << i << " differs between batch 1 and batch "
        << kBatch;
  }
}

std::vector<Param> params() {
  std::vector<Param> p;
  for (const Ops* ops : {&ref_ops(), &cpu_ops()})
    for (const KernelCase& c : kernel_cases())
      if (!c.sd15) p.push_back({ops, &c});
  return p;
}

INSTANTIATE_TEST_SUITE_P(Kernels, BatchInvarianceTest, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(info.param.ops->name) + "_" + info.param.kc->name;
                         });

TEST(ThreadCountInvariance, CpuGivesSameBitsOnOneThread) {
  for (const KernelCase& c : kernel_cases()) {
    if (c.sd15) continue;
    const auto inputs = random_inputs(c, c.batch, 3);
    std::vector<const float*> ptrs;
    for (const auto& t : inputs) ptrs.push_back(t.data());
    const size_t n = static_cast<size_t>(output_per_sample(c) * c.batch);
    std::vector<float> all_threads(n, -12345.0f), one_thread(n, -12345.0f);
    run_case(cpu_ops(), c, c.batch, ptrs, all_threads.data());

    const int omp_threads = omp_get_max_threads(), blas_threads = openblas_get_num_threads();
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    run_case(cpu_ops(), c, c.batch, ptrs, one_thread.data());
    omp_set_num_threads(omp_threads);
    openblas_set_num_threads(blas_threads);
    EXPECT_EQ(std::memcmp(all_threads.data(), one_thread.data(), sizeof(float) * n), 0)
        << c.name << ": " << omp_threads << " OpenMP / " << blas_threads
        << " OpenBLAS threads differ from 1";
  }
}

}  // namespace
}  // namespace farm::kernels::testing
