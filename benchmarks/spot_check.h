// Checks a full-size (SD 1.5) GEMM-shaped result without running ref on it,
// which would take minutes: a sample of output elements is recomputed in
// double straight from the op's definition.
#pragma once

#include <vector>

#include "kernels/check/error_stats.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::bench {

// conv2d, linear and attention only: `got` (the op's output for c.batch
// samples) against the double-precision value at `samples` output elements
// spread over it, with the case's vs_ref tolerance.
bool has_spot_check(const testing::KernelCase& c);
testing::ErrorStats spot_check(const testing::KernelCase& c,
                               const std::vector<std::vector<float>>& inputs,
                               const std::vector<float>& got, int samples);

}  // namespace farm::kernels::bench
