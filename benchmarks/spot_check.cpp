#include "benchmarks/spot_check.h"

#include <algorithm>
#include <cmath>

namespace farm::kernels::bench {
namespace {

using testing::KernelCase;
using testing::OpKind;

double conv_element(const KernelCase& c, const std::vector<std::vector<float>>& in, int64_t idx) {
  const Conv2dArgs& a = c.conv;
  const int64_t oh = a.out_h(), ow = a.out_w();
  const int64_t co = idx % a.out_c, pixel = idx / a.out_c;
  const int64_t b = pixel / (oh * ow), oy = (pixel / ow) % oh, ox = pixel % ow;
  const float* x = in[0].data();
  const float* w = in[1].data();
  double acc = 0.0;
  for (int64_t ky = 0; ky < a.kernel; ++ky)
    for (int64_t kx = 0; kx < a.kernel; ++kx) {
      const int64_t iy = oy * a.stride - a.pad + ky, ix = ox * a.stride - a.pad + kx;
      if (iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w) continue;
      for (int64_t ci = 0; ci < a.in_c; ++ci)
        acc += double{x[((b * a.in_h + iy) * a.in_w + ix) * a.in_c + ci]} *
               w[((co * a.kernel + ky) * a.kernel + kx) * a.in_c + ci];
    }
  size_t next = 2;
  if (c.bias) acc += in[next++][co];
  if (c.residual) acc += in[next][idx];
  return acc;
}

double linear_element(const KernelCase& c, const std::vector<std::vector<float>>& in, int64_t idx) {
  const int64_t o = idx % c.out, r = idx / c.out;
  double acc = 0.0;
  for (int64_t i = 0; i < c.in; ++i) acc += double{in[0][r * c.in + i]} * in[1][o * c.in + i];
  size_t next = 2;
  if (c.bias) acc += in[next++][o];
  if (c.residual) acc += in[next][idx];
  return acc;
}

// Element idx of the attention output; NaN marks a stride gap (not written).
double attention_element(const KernelCase& c, const std::vector<std::vector<float>>& in,
                         int64_t idx) {
  const AttentionArgs& a = c.attn;
  const int64_t col = idx % a.out_stride, token = idx / a.out_stride;
  if (col >= a.heads * a.head_dim) return std::nan("");
  const int64_t b = token / a.q_len, i = token % a.q_len;
  const int64_t h = col / a.head_dim, e = col % a.head_dim;
  const int64_t visible = a.causal ? std::min(i + 1, a.kv_len) : a.kv_len;
  const float* q = in[0].data() + (b * a.q_len + i) * a.q_stride + h * a.head_dim;
  std::vector<double> s(static_cast<size_t>(visible));
  double row_max = -INFINITY;
  for (int64_t j = 0; j < visible; ++j) {
    const float* k = in[1].data() + (b * a.kv_len + j) * a.kv_stride + h * a.head_dim;
    double dot = 0.0;
    for (int64_t d = 0; d < a.head_dim; ++d) dot += double{q[d]} * k[d];
    s[j] = dot * a.scale;
    row_max = std::max(row_max, s[j]);
  }
  double sum = 0.0, acc = 0.0;
  for (int64_t j = 0; j < visible; ++j) {
    const double p = std::exp(s[j] - row_max);
    sum += p;
    acc += p * in[2][(b * a.kv_len + j) * a.kv_stride + h * a.head_dim + e];
  }
  return acc / sum;
}

}  // namespace

bool has_spot_check(const KernelCase& c) {
  return c.op == OpKind::conv2d || c.op == OpKind::linear || c.op == OpKind::attention;
}

testing::ErrorStats spot_check(const KernelCase& c, const std::vector<std::vector<float>>& inputs,
                               const std::vector<float>& got, int samples) {
  std::vector<float> want, have;
  const int64_t n = static_cast<int64_t>(got.size());
  for (int s = 0; s < samples; ++s) {
    // A fixed stride through the output so first, last and interior tiles are hit.
    const int64_t idx = s == samples - 1 ? n - 1 : (s * 7919 * 4099LL) % n;
    double v;
    switch (c.op) {
      case OpKind::conv2d:
        v = conv_element(c, inputs, idx);
        break;
      case OpKind::linear:
        v = linear_element(c, inputs, idx);
        break;
      case OpKind::attention:
        v = attention_element(c, inputs, idx);
        break;
      default:
        return {};  // has_spot_check() is false
    }
    if (std::isnan(v)) continue;
    want.push_back(static_cast<float>(v));
    have.push_back(got[idx]);
  }
  return testing::compare(have.data(), want.data(), static_cast<int64_t>(want.size()), c.vs_ref);
}

}  // namespace farm::kernels::bench
