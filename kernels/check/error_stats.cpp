#include "kernels/check/error_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace farm::kernels::testing {

ErrorStats compare(const float* got, const float* want, int64_t n, Tolerance tol) {
  ErrorStats e;
  for (int64_t i = 0; i < n; ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) e.bitwise_equal = false;
    const double g = got[i], w = want[i];
    const double diff = std::fabs(g - w);
    const double bound = tol.atol + tol.rtol * std::fabs(w);
    double ratio;
    if (std::isnan(diff) || std::isinf(diff)) {
      ratio = (g == w) ? 0.0 : std::numeric_limits<double>::infinity();  // equal infinities pass
    } else {
      ratio = diff == 0.0 ? 0.0
                          : (bound > 0.0 ? diff / bound : std::numeric_limits<double>::infinity());
      e.max_abs = std::max(e.max_abs, diff);
      if (std::fabs(w) >= 1e-3) e.max_rel = std::max(e.max_rel, diff / std::fabs(w));
    }
    if (ratio > 1.0) ++e.failures;
    if (ratio > e.worst_ratio || e.worst_index < 0) {
      e.worst_ratio = ratio;
      e.worst_index = i;
    }
  }
  return e;
}

std::string describe(const ErrorStats& e, Tolerance tol) {
  std::ostringstream s;
  s.precision(3);
  s << "max_abs " << e.max_abs << " max_rel " << e.max_rel << " (atol " << tol.atol << " rtol "
    << tol.rtol << ") worst/tol " << e.worst_ratio;
  if (e.bitwise_equal) s << " [bitwise equal]";
  if (e.failures) s << " FAILED " << e.failures << " elements, first worst at " << e.worst_index;
  return s.str();
}

}  // namespace farm::kernels::testing
