// Attention as independent work items (sample, head, tile of query rows),
// spread over OpenMP threads. Each item runs
//   S[T, n] = scale · Q[T, D] · K[n, D]^T ;  P = exp(S - rowmax) ;
//   O[T, D] = P · V[n, D] / rowsum(P)
// with single-threaded sgemms, so a thread never waits on another between
// the GEMMs and the softmax (handing every step between the OpenMP and
// OpenBLAS thread pools cost 3-4× on 2 cores). A 256-row tile keeps SD's
// 4096×4096 scores to 4 MB per thread. Items and their shapes depend only on
// the per-sample problem, never the batch or the thread count.
#include <algorithm>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

constexpr int64_t kQueryTile = 256;

// Query rows i0 .. i0+rows of one (sample, head).
void attention_tile(const AttentionArgs& a, const float* qh, const float* kh, const float* vh,
                    float* oh, int64_t i0, int64_t rows) {
  const int64_t d = a.head_dim;
  // Causal tiles skip the keys no row of the tile can see (query i sees keys
  // 0..i, as torch's is_causal).
  const int64_t n = a.causal ? std::min(a.kv_len, i0 + rows) : a.kv_len;
  float* scores = scratch(0, rows * n);
  sgemm_nt(rows, n, d, a.scale, qh + i0 * a.q_stride, a.q_stride, kh, a.kv_stride, 0.0f, scores, n);
  float* o = oh + i0 * a.out_stride;
  float* row_sum = scratch(1, rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t visible = a.causal ? std::min(i0 + r + 1, n) : n;
    row_sum[r] = softmax_row(scores + r * n, n, visible, 1.0f);  // scale is in the sgemm
  }
  sgemm_nn(rows, d, n, 1.0f, scores, n, vh, a.kv_stride, 0.0f, o, a.out_stride);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t e = 0; e < d; ++e) o[r * a.out_stride + e] /= row_sum[r];
}

}  // namespace

void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  const int64_t d = a.head_dim;
  FARM_KERNEL_CHECK(
      a.q_stride >= a.heads * d && a.kv_stride >= a.heads * d && a.out_stride >= a.heads * d,
      "attention strides shorter than heads * head_dim");
  const int64_t tiles = (a.q_len + kQueryTile - 1) / kQueryTile;
  const int64_t items = a.batch * a.heads * tiles;
  const double flops =
      4.0 * static_cast<double>(a.batch * a.heads * a.q_len) * static_cast<double>(a.kv_len * d);
  use_single_threaded_blas();
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / (a.heads * tiles), h = (item / tiles) % a.heads;
    const int64_t i0 = (item % tiles) * kQueryTile;
    attention_tile(a, q + b * a.q_len * a.q_stride + h * d, k + b * a.kv_len * a.kv_stride + h * d,
                   v + b * a.kv_len * a.kv_stride + h * d, out + b * a.q_len * a.out_stride + h * d,
                   i0, std::min(kQueryTile, a.q_len - i0));
  }
}

}  // namespace farm::kernels::cpu
