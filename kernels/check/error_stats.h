// Element-wise comparison of a kernel's output against the wanted values.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {

struct ErrorStats {
  double max_abs = 0.0;
  double max_rel = 0.0;  // over elements with |want| >= 1e-3 (relative error near 0 means little)
  double worst_ratio = 0.0;  // max |got - want| / (atol + rtol·|want|); passes when <= 1
  int64_t worst_index = -1;
  int64_t failures = 0;  // elements over tolerance (NaN counts)
  bool bitwise_equal = true;
};

ErrorStats compare(const float* got, const float* want, int64_t n, Tolerance tol);

// "max_abs 1.2e-07 max_rel 3.4e-07 (atol 2e-05 rtol 2e-05) ratio 0.006"
std::string describe(const ErrorStats& e, Tolerance tol);

}  // namespace farm::kernels::testing
