// Comparison of a computed tensor with a reference from an independent
// implementation. The error is reported as max |a - ref| and that divided by
// max |ref| (a scale-free bound that tiny reference values cannot blow up).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <cstdio>
#include <string>

#include "farm/core/tensor.h"

namespace farm::testing {

struct ErrorStats {
  double max_abs = 0, ref_max = 0;
  double rel() const { return ref_max > 0 ? max_abs / ref_max : max_abs; }
};

inline ErrorStats compare(std::span<const float> got, std::span<const float> ref) {
  ErrorStats s;
  if (got.size() != ref.size()) {
    s.max_abs = INFINITY;
    return s;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    s.max_abs = std::isnan(d) ? INFINITY : std::max(s.max_abs, d);
    s.ref_max = std::max(s.ref_max, std::fabs(static_cast<double>(ref[i])));
  }
  return s;
}

// Prints the figures (they go into the closing note) and checks the bound.
inline void expect_close(const std::string& what, const Tensor& got, const Tensor& ref, double rel_bound) {
  ASSERT_EQ(got.shape, ref.shape) << what << ": " << shape_str(got.shape) << " vs " << shape_str(ref.shape);
  const ErrorStats s = compare(got.data, ref.data);
  std::printf("[error] %-40s max_abs %.3e  rel %.3e  (bound %.0e, |ref| max %.3g)\n", what.c_str(), s.max_abs, s.rel(),
              rel_bound, s.ref_max);
  EXPECT_LE(s.rel(), rel_bound) << what << ": max_abs " << s.max_abs << " ref max " << s.ref_max;
}

}  // namespace farm::testing
