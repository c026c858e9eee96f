// Scaled dot-product attention, one query row at a time:
// p = softmax(scale · q·k^T), out = p·v. The softmax subtracts the row max so
// large logits cannot overflow exp().
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ref/check.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {

void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  FARM_KERNEL_CHECK(a.kv_head_count() > 0 && a.heads % a.kv_head_count() == 0,
                    "attention heads not a multiple of kv_heads");
  FARM_KERNEL_CHECK(a.q_stride >= a.heads * a.head_dim && a.kv_stride >= a.kv_head_count() * a.head_dim &&
                        a.out_stride >= a.heads * a.head_dim,
                    "attention strides shorter than heads * head_dim");
  const int64_t d = a.head_dim;
  std::vector<float> p(static_cast<size_t>(a.kv_len));
  for (int64_t b = 0; b < a.batch; ++b) {
    const float* qb = q + b * a.q_len * a.q_stride;
    const float* kb = k + b * a.kv_len * a.kv_stride;
    const float* vb = v + b * a.kv_len * a.kv_stride;
    float* ob = out + b * a.q_len * a.out_stride;
    for (int64_t h = 0; h < a.heads; ++h) {
      for (int64_t i = 0; i < a.q_len; ++i) {
        const float* qi = qb + i * a.q_stride + h * d;
        // Causal as torch's is_causal: query i sees keys 0..i.
        const int64_t visible = a.causal ? std::min(i + 1, a.kv_len) : a.kv_len;
        float row_max = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          const float* kj = kb + j * a.kv_stride + a.kv_head(h) * d;
          float s = 0.0f;
          for (int64_t e = 0; e < d; ++e) s += qi[e] * kj[e];
          p[j] = s * a.scale;
          row_max = std::max(row_max, p[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < visible; ++j) {
          p[j] = std::exp(p[j] - row_max);
          sum += p[j];
        }
        float* oi = ob + i * a.out_stride + h * d;
        for (int64_t e = 0; e < d; ++e) {
          float acc = 0.0f;
          for (int64_t j = 0; j < visible; ++j) acc += p[j] * vb[j * a.kv_stride + a.kv_head(h) * d + e];
          oi[e] = acc / sum;
        }
      }
    }
  }
}

}  // namespace farm::kernels::ref
