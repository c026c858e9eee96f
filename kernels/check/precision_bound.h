// The tolerance rule of the flash-attention tests, applied to every op: a
// 16-bit kernel's error against the fp32 reference may be at most twice the
// error of a "same precision" CPU run (inputs rounded to fp16/bf16 as the
// adapter rounds them, ref_ops computing in fp32, output rounded once to
// fp16/bf16), plus one unit of 16-bit rounding at the largest output.
#pragma once

#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_common.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::cuda {
// gtest prints parameters with this (test names in ctest read "f16", not bytes).
inline void PrintTo(DType t, std::ostream* os) { *os << dtype_name(t); }
}  // namespace farm::kernels::cuda

namespace farm::kernels::testing {

// v rounded to nearest even in dtype (returned as fp32).
float round_to(float v, cuda::DType dtype);
void round_all(std::vector<float>& v, cuda::DType dtype);

// Inputs the staging adapter (kernels/check/staging_ops.cpp) rounds: all but the
// timesteps of timestep_embedding, which stay fp32.
bool input_is_rounded(const KernelCase& c, size_t input_index);

struct PrecisionCheck {
  double kernel_err = 0;    // max |got - want|
  double baseline_err = 0;  // max |baseline - want|
  double slack = 0;         // one 16-bit unit at max |want|
  double bound = 0;         // 2 · baseline_err + slack
  bool nan = false;
  bool passes() const { return !nan && kernel_err <= bound; }
  std::string describe() const;
};

PrecisionCheck check_precision(std::span<const float> got, std::span<const float> want,
                               std::span<const float> baseline, cuda::DType dtype);

}  // namespace farm::kernels::testing
