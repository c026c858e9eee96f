// The device path of `farm selftest` and bench_cuda (device_case.cpp: a
// KernelCase mapped to kernel parameters, inputs uploaded as 16-bit, output
// downloaded, checked with precision_bound.h) run on the SIMT emulator over
// the CUDA case list, so a wrong mapping fails here rather than first on a
// GPU node. The oracle is kernels/ref; cuDNN is the "not built" stub here.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <tuple>

#include "kernels/check/cuda_cases.h"
#include "kernels/check/device_case.h"
#include "kernels/check/precision_bound.h"

namespace farm::kernels::testing {
namespace {

using cuda::DType;

class CudaEmuDeviceCase : public ::testing::TestWithParam<std::tuple<size_t, DType>> {};

TEST_P(CudaEmuDeviceCase, WithinPrecisionBound) {
  const KernelCase& c = cuda_emu_cases()[std::get<0>(GetParam())];
  const DType dtype = std::get<1>(GetParam());
  ASSERT_EQ(cuda_device_problem(), "");  // the emulator is one device
  const auto inputs = random_inputs(c, c.batch, std::hash<std::string>{}(c.name));
  const Reference ref = reference_for(ref_ops(), c, dtype, inputs);
  DeviceCase dc(c, dtype, inputs);
  ASSERT_EQ(dc.launch(nullptr), "");
  const PrecisionCheck r = check_precision(dc.download(), ref.want, ref.baseline, dtype);
  std::printf("[ device-case ] %-28s %-4s %s\n", c.name.c_str(), cuda::dtype_name(dtype), r.describe().c_str());
  EXPECT_TRUE(r.passes()) << c.name << ": " << r.describe();
  // A second launch into a cleared output gives the same bits (timing loops
  // relaunch without re-uploading: no op may consume its inputs).
  dc.clear_output(nullptr);
  ASSERT_EQ(dc.launch(nullptr), "");
  const PrecisionCheck again = check_precision(dc.download(), ref.want, ref.baseline, dtype);
  EXPECT_EQ(again.kernel_err, r.kernel_err) << c.name;
  if (c.op == OpKind::conv2d) {
    EXPECT_NE(dc.launch(nullptr, cuda::ConvPath::cudnn), "") << "the stub must say why";
  }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<size_t, DType>>& info) {
  return cuda_emu_cases()[std::get<0>(info.param)].name + "_" + cuda::dtype_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaEmuDeviceCase,
                         ::testing::Combine(::testing::Range<size_t>(0, cuda_emu_cases().size()),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         case_name);

}  // namespace
}  // namespace farm::kernels::testing
