// The CUDA kernels, run on the CPU through the SIMT emulator (cuda_emu_staging_ops),
// against kernels/ref in fp32, with the precision-derived bound of
// precision_bound.h. Also: each sample's output must not depend on the batch.
// What the emulator cannot see (races that give the right answer, the memory
// model, register/shared-memory limits, GPU fp differences): kernels/emu/LIMITS.md.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/check/staging_ops.h"
#include "kernels/ops.h"
#include "kernels/check/cuda_cases.h"
#include "kernels/check/precision_bound.h"
#include "kernels/cuda/norm_layout.h"
#include "kernels/emu/options.h"

namespace farm::kernels::testing {
namespace {

using cuda::DType;

std::vector<const float*> pointers(const std::vector<std::vector<float>>& v) {
  std::vector<const float*> p;
  for (const auto& t : v) p.push_back(t.data());
  return p;
}

std::vector<float> run(const Ops& ops, const KernelCase& c, int64_t batch, const std::vector<std::vector<float>>& in) {
  std::vector<float> y(static_cast<size_t>(output_per_sample(c) * batch), 0.0f);
  run_case(ops, c, batch, pointers(in), y.data());
  return y;
}

class CudaEmuVsRef : public ::testing::TestWithParam<std::tuple<size_t, DType>> {};

TEST_P(CudaEmuVsRef, WithinPrecisionBound) {
  const KernelCase& c = cuda_emu_cases()[std::get<0>(GetParam())];
  const DType dtype = std::get<1>(GetParam());
  const auto inputs = random_inputs(c, c.batch, 20261123);

  const std::vector<float> want = run(ref_ops(), c, c.batch, inputs);
  auto rounded = inputs;
  for (size_t i = 0; i < rounded.size(); ++i)
    if (input_is_rounded(c, i)) round_all(rounded[i], dtype);
  std::vector<float> baseline = run(ref_ops(), c, c.batch, rounded);
  round_all(baseline, dtype);
  const std::vector<float> got = run(cuda_emu_staging_ops(dtype), c, c.batch, inputs);

  const PrecisionCheck r = check_precision(got, want, baseline, dtype);
  std::printf("[ cuda-emu ] %-28s %-4s %s\n", c.name.c_str(), cuda::dtype_name(dtype), r.describe().c_str());
  RecordProperty("max_err", std::to_string(r.kernel_err));
  RecordProperty("baseline_err", std::to_string(r.baseline_err));
  EXPECT_TRUE(r.passes()) << c.name << " " << cuda::dtype_name(dtype) << ": " << r.describe();
}

// Sample 0 computed alone must equal, bit for bit, sample 0 of the batch.
TEST_P(CudaEmuVsRef, BatchInvariant) {
  const KernelCase& c = cuda_emu_cases()[std::get<0>(GetParam())];
  if (c.batch < 2) GTEST_SKIP() << "single-sample case";
  const DType dtype = std::get<1>(GetParam());
  const auto inputs = random_inputs(c, c.batch, 7);
  auto first = inputs;
  const auto specs = input_specs(c);
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].batched) first[i].resize(static_cast<size_t>(specs[i].per_sample));
  const std::vector<float> all = run(cuda_emu_staging_ops(dtype), c, c.batch, inputs);
  const std::vector<float> one = run(cuda_emu_staging_ops(dtype), c, 1, first);
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], all[i]) << c.name << " element " << i;
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<size_t, DType>>& info) {
  return cuda_emu_cases()[std::get<0>(info.param)].name + "_" + cuda::dtype_name(std::get<1>(info.param));
}

// Conv and group norm (whose statistics are combined across blocks): the
// same bits with blocks on two worker threads, finishing in any order, as
// with one. A float atomic or a combine order that followed block completion
// would show here (by chance: the emulator's workers rarely interleave much).
class CudaEmuSameBits : public ::testing::TestWithParam<std::tuple<size_t, DType>> {};

TEST_P(CudaEmuSameBits, WithTwoWorkers) {
  const KernelCase& c = cuda_emu_cases()[std::get<0>(GetParam())];
  const DType dtype = std::get<1>(GetParam());
  const auto inputs = random_inputs(c, c.batch, 11);
  const std::vector<float> serial = run(cuda_emu_staging_ops(dtype), c, c.batch, inputs);
  const int workers = emu::options().workers;
  emu::options().workers = 2;
  const std::vector<float> parallel = run(cuda_emu_staging_ops(dtype), c, c.batch, inputs);
  emu::options().workers = workers;
  for (size_t i = 0; i < serial.size(); ++i) ASSERT_EQ(serial[i], parallel[i]) << c.name << " element " << i;
}

// The group norm's split: SD 1.5's largest group norm (64x64x320, CFG batch
// 2) fills two waves of an A100's 108 SMs (one block per (sample, group) gave
// 64 blocks), in 16-byte loads, and the slabs never depend on the batch.
TEST(GroupNormLayout, Sd15ShapesFillTheGpu) {
  const auto l = cuda::group_norm_layout(64 * 64, 320, 32, true);
  EXPECT_EQ(l.vector, 8);
  EXPECT_GE(2 * l.blocks_per_sample(32), 2 * 108);
  // The deepest level (8x8x1280) keeps at least the old 32 blocks per sample.
  EXPECT_GE(cuda::group_norm_layout(8 * 8, 1280, 32, true).blocks_per_sample(32), 32);
}

std::vector<size_t> conv_and_group_norm_cases() {
  std::vector<size_t> v;
  for (size_t i = 0; i < cuda_emu_cases().size(); ++i)
    if (cuda_emu_cases()[i].op == OpKind::conv2d || cuda_emu_cases()[i].op == OpKind::group_norm) v.push_back(i);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaEmuSameBits,
                         ::testing::Combine(::testing::ValuesIn(conv_and_group_norm_cases()),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         case_name);

INSTANTIATE_TEST_SUITE_P(Cases, CudaEmuVsRef,
                         ::testing::Combine(::testing::Range<size_t>(0, cuda_emu_cases().size()),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         case_name);

}  // namespace
}  // namespace farm::kernels::testing
