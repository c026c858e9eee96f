#include "kernels/check/precision_bound.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace farm::kernels::testing {

float round_to(float v, cuda::DType dtype) {
  if (dtype == cuda::DType::f16) return __half2float(__float2half_rn(v));
  return __bfloat162float(__float2bfloat16_rn(v));
}

void round_all(std::vector<float>& v, cuda::DType dtype) {
  for (float& x : v) x = round_to(x, dtype);
}

bool input_is_rounded(const KernelCase& c, size_t input_index) {
  // fp32 timesteps and (cos, sin) tables: the kernels read them as fp32.
  return !((c.op == OpKind::timestep_embedding || c.op == OpKind::rope) && input_index == 0);
}

std::string PrecisionCheck::describe() const {
  char buf[200];
  std::snprintf(buf, sizeof buf, "max_err %.3e baseline %.3e bound %.3e (2*baseline + %.1e)%s", kernel_err,
                baseline_err, bound, slack, nan ? " NaN" : "");
  return buf;
}

PrecisionCheck check_precision(std::span<const float> got, std::span<const float> want,
                               std::span<const float> baseline, cuda::DType dtype) {
  PrecisionCheck r;
  double max_want = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i])) r.nan = true;
    r.kernel_err = std::max(r.kernel_err, static_cast<double>(std::fabs(got[i] - want[i])));
    r.baseline_err = std::max(r.baseline_err, static_cast<double>(std::fabs(baseline[i] - want[i])));
    max_want = std::max(max_want, static_cast<double>(std::fabs(want[i])));
  }
  const double unit = dtype == cuda::DType::f16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
  r.slack = unit * std::max(1.0, max_want);
  r.bound = 2.0 * r.baseline_err + r.slack;
  return r;
}

}  // namespace farm::kernels::testing
