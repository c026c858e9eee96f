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
#include "kernels/cpu/f32_gemm.h"
#include "kernels/cpu/fast_math.h"
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

// The flash path (AVX-512, more keys than one block, not causal), computed
// transposed: a work item is one (sample, head); V^T is copied once per
// item; each panel of 64 queries (one register tile's columns) walks the
// keys in blocks of kKeyBlock:
//   S^T[key, query] = K · Q^T  (tiles of 6 keys × the panel, k = head dim)
//   P^T = exp(scale · S^T − running max), down each query's column
//   O^T[dim, query] += V^T · P^T  (tiles of 6 dims × the panel, 64 keys a pass)
// with O^T and the column sums rescaled by exp(old max − new max). Queries
// are SIMD lanes, so the online softmax is vertical (no row reductions) and
// P·V has no padding for head dims that are not a multiple of 16 (SD 1.5's
// 40 padded to 48 cost a sixth of P·V when queries were rows). S^T of a
// block (512 × 64, 128 KB) stays in L2; P^T's 64-key chunk, the query panel
// and O^T in L1. Both products run on the implicit GEMM's register tiles.
constexpr int64_t kQueryPanel = 64;
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kKeyChunk = 64;  // keys of P^T per P·V pass: 16 KB
constexpr int kTile = 6;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The next register tile's A rows (K rows for S^T, V^T rows for P·V) are
// scattered runs the hardware prefetchers do not foresee: asking for them
// one tile ahead took SD 1.5's 64² self-attention from 88 to 81 ms.
void prefetch_run(const float* p, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) __builtin_prefetch(p + i);
}

void attention_flash_pair(const AttentionArgs& a, const float* qh, const float* kh, const float* vh, float* oh) {
  const int64_t d = a.head_dim, n = a.kv_len;
  // V^T [d, n]: one A row per output dim; copied 64 keys at a time so the
  // writes run along rows.
  float* vt = scratch(2, d * n);
  for (int64_t j0 = 0; j0 < n; j0 += kKeyChunk)
    for (int64_t e = 0; e < d; ++e)
      for (int64_t j = j0; j < std::min(n, j0 + kKeyChunk); ++j) vt[e * n + j] = vh[j * a.kv_stride + e];
  float* qp = scratch(3, d * kQueryPanel + kKeyBlock * kQueryPanel + d * kQueryPanel + 3 * kQueryPanel);
  float* st = qp + d * kQueryPanel;     // S^T, then P^T, of a block: [key][ld]
  float* ot = st + kKeyBlock * kQueryPanel;  // O^T: [dim][ld]
  float* col_max = ot + d * kQueryPanel;
  float* col_sum = col_max + kQueryPanel;
  float* alpha = col_sum + kQueryPanel;
  const float* rows[kTile];
  for (int64_t i0 = 0; i0 < a.q_len; i0 += kQueryPanel) {
    const int64_t width = std::min(kQueryPanel, a.q_len - i0);
    const int vecs = static_cast<int>(ceil_div(width, 16));
    const int64_t ld = 16 * vecs;  // the packed panel's row: queries past `width` are zeros
    f32_pack_panel(qh + i0 * a.q_stride, a.q_stride, d, width, qp);
    for (int64_t j0 = 0; j0 < n; j0 += kKeyBlock) {
      const int64_t block = std::min(kKeyBlock, n - j0);
      // S^T = K · Q^T (unscaled; the scale is in the exp).
      for (int64_t j = 0; j < block; j += kTile) {
        const int r = static_cast<int>(std::min<int64_t>(kTile, block - j));
        for (int i = 0; i < r; ++i) rows[i] = kh + (j0 + j + i) * a.kv_stride;
        for (int64_t i = j0 + j + kTile; i < std::min(n, j0 + j + 2 * kTile); ++i) prefetch_run(kh + i * a.kv_stride, d);
        f32_tile(r, vecs, d, rows, 0, qp, st + j * ld, ld, true);
      }
      softmax_columns(st, block, vecs, a.scale, col_max, col_sum, alpha, j0 == 0);
      if (j0 > 0)
        for (int64_t e = 0; e < d; ++e)
          for (int64_t q = 0; q < ld; ++q) ot[e * ld + q] *= alpha[q];
      // O^T += V^T · P^T, 64 keys of P^T (in L1) at a time.
      for (int64_t c0 = 0; c0 < block; c0 += kKeyChunk) {
        const int64_t kc = std::min(kKeyChunk, block - c0);
        for (int64_t e = 0; e < d; e += kTile) {
          const int r = static_cast<int>(std::min<int64_t>(kTile, d - e));
          for (int i = 0; i < r; ++i) rows[i] = vt + (e + i) * n;
          for (int64_t i = e + kTile; i < std::min(d, e + 2 * kTile); ++i) prefetch_run(vt + i * n + j0 + c0, kc);
          f32_tile(r, vecs, kc, rows, j0 + c0, st + c0 * ld, ot + e * ld, ld, j0 == 0 && c0 == 0);
        }
      }
    }
    for (int64_t q = 0; q < width; ++q) {
      float* out = oh + (i0 + q) * a.out_stride;
      for (int64_t e = 0; e < d; ++e) out[e] = ot[e * ld + q] / col_sum[q];
    }
  }
}

}  // namespace

void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  const int64_t d = a.head_dim;
  FARM_KERNEL_CHECK(a.kv_head_count() > 0 && a.heads % a.kv_head_count() == 0,
                    "attention heads not a multiple of kv_heads");
  FARM_KERNEL_CHECK(
      a.q_stride >= a.heads * d && a.kv_stride >= a.kv_head_count() * d && a.out_stride >= a.heads * d,
      "attention strides shorter than heads * head_dim");
  if (f32_kernel_available() && !a.causal && a.kv_len > kKeyBlock) {
    const int64_t pairs = a.batch * a.heads;
    const double flops = 4.0 * static_cast<double>(pairs * a.q_len) * static_cast<double>(a.kv_len * d);
#pragma omp parallel for schedule(dynamic, 1) if (pairs > 1 && worth_parallel(flops))
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const int64_t b = pair / a.heads, h = pair % a.heads;
      const int64_t kv = b * a.kv_len * a.kv_stride + a.kv_head(h) * d;
      attention_flash_pair(a, q + b * a.q_len * a.q_stride + h * d, k + kv, v + kv, out + b * a.q_len * a.out_stride + h * d);
    }
    return;
  }
  const int64_t tiles = (a.q_len + kQueryTile - 1) / kQueryTile;
  const int64_t items = a.batch * a.heads * tiles;
  const double flops =
      4.0 * static_cast<double>(a.batch * a.heads * a.q_len) * static_cast<double>(a.kv_len * d);
  use_single_threaded_blas();
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / (a.heads * tiles), h = (item / tiles) % a.heads;
    const int64_t i0 = (item % tiles) * kQueryTile;
    const int64_t kv = b * a.kv_len * a.kv_stride + a.kv_head(h) * d;
    attention_tile(a, q + b * a.q_len * a.q_stride + h * d, k + kv, v + kv, out + b * a.q_len * a.out_stride + h * d,
                   i0, std::min(kQueryTile, a.q_len - i0));
  }
}

}  // namespace farm::kernels::cpu
