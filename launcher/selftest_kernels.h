// The kernel half of `farm selftest` (CUDA builds only): every case of the
// CUDA case list (tests/cuda/cuda_cases.cpp) and, unless `quick`, the
// full-size SD 1.5/2.x/XL shapes (tests/cuda/sd_cases.cpp), in fp16 and
// bf16, run on the current device against the fp32 oracle with the error
// rule of kernels/check/precision_bound.h, then timed with cudaEvents.
#pragma once

#include <string>
#include <vector>

#include "kernels/cuda/autotune.h"
#include "kernels/cuda/cuda_common.h"

namespace farm::launcher {

struct KernelSelftestOptions {
  std::vector<kernels::cuda::DType> dtypes{kernels::cuda::DType::f16, kernels::cuda::DType::bf16};
  bool quick = false;   // only the small cases
  std::string filter;   // case-name substring; empty: all
  int warmup = 5, iterations = 20;
  bool fast = false;    // allow cuDNN in the conv autotune choice
  bool print = true;    // rank 0 prints the table; other ranks only failures
};

struct KernelSelftestResult {
  int checks = 0, failures = 0;
  std::vector<kernels::cuda::ConvChoice> conv_choices;
};

// One line naming the current device, runtime and cuDNN.
std::string describe_device();

KernelSelftestResult run_kernel_selftest(const KernelSelftestOptions& opt);

}  // namespace farm::launcher
