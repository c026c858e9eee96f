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
#include <limits>

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

// The flash path (AVX-512, more keys than one block, not causal): a work
// item is one (sample, head). K and V are packed once per item; each tile
// of kFlashRows queries walks the keys in blocks of kKeyBlock with a running
// max and sum per row, P·V summed into an fp32 O rescaled when the max
// grows. S of one block (128 × 512, 256 KB) stays in L2 with the block's K
// and V; the one-pass path above streams 256 × n scores (4 MB at SD's 64²)
// through L3 between its two sgemms. Both products run on the implicit
// GEMM's register tiles (f32_gemm.h).
constexpr int64_t kFlashRows = 126;  // query rows per tile: 21 register tiles of 6
constexpr int64_t kKeyBlock = 512;   // keys per block, 8 panels of 64
constexpr int64_t kPanel = 64;
constexpr int kTile = 6;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void attention_flash_pair(const AttentionArgs& a, const float* qh, const float* kh, const float* vh, float* oh) {
  const int64_t d = a.head_dim, n = a.kv_len;
  const int64_t key_panels = ceil_div(n, kPanel), dim_panels = ceil_div(d, kPanel);
  const int64_t dvecs = ceil_div(d, 16);  // V's columns, padded to 16
  // K packed as W[keys, d] panels (k-major: d rows of 64 keys); V copied as
  // B[keys, 16·dvecs] per 64-dim panel, zero-padded.
  float* kp = scratch(2, key_panels * d * kPanel + n * dvecs * 16);
  float* vp = kp + key_panels * d * kPanel;
  for (int64_t p = 0; p < key_panels; ++p)
    f32_pack_panel(kh + p * kPanel * a.kv_stride, a.kv_stride, d, std::min(kPanel, n - p * kPanel),
                   kp + p * d * kPanel);
  for (int64_t q = 0; q < dim_panels; ++q) {
    const int64_t e0 = q * kPanel, width = std::min(kPanel, d - e0), ld = ceil_div(width, 16) * 16;
    float* dst = vp + n * e0;  // panel q: n rows of ld floats
    for (int64_t j = 0; j < n; ++j) {
      std::copy(vh + j * a.kv_stride + e0, vh + j * a.kv_stride + e0 + width, dst + j * ld);
      std::fill(dst + j * ld + width, dst + (j + 1) * ld, 0.0f);
    }
  }
  // S of one block as [row][kKeyBlock]; O as [dim panel][row][64].
  float* s = scratch(3, kKeyBlock * kFlashRows + dim_panels * kFlashRows * kPanel + 2 * kFlashRows);
  float* o = s + kKeyBlock * kFlashRows;
  float* row_max = o + dim_panels * kFlashRows * kPanel;
  float* row_sum = row_max + kFlashRows;
  const float* qrows[kFlashRows];
  const float* srows[kFlashRows];
  for (int64_t i0 = 0; i0 < a.q_len; i0 += kFlashRows) {
    const int64_t rows = std::min(kFlashRows, a.q_len - i0);
    for (int64_t r = 0; r < rows; ++r) {
      qrows[r] = qh + (i0 + r) * a.q_stride;
      srows[r] = s + r * kKeyBlock;
      row_max[r] = -std::numeric_limits<float>::infinity();
      row_sum[r] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < n; j0 += kKeyBlock) {
      const int64_t block = std::min(kKeyBlock, n - j0), panels = ceil_div(block, kPanel);
      // S = Q · K^T for the block's keys (unscaled; the scale is in the exp).
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t kp0 = j0 / kPanel + p;
        const int vecs = static_cast<int>(ceil_div(std::min(kPanel, n - kp0 * kPanel), 16));
        for (int64_t r = 0; r < rows; r += kTile)
          f32_tile(static_cast<int>(std::min<int64_t>(kTile, rows - r)), vecs, d, qrows + r, 0, kp + kp0 * d * kPanel,
                   s + r * kKeyBlock + p * kPanel, kKeyBlock, true);
      }
      // Online softmax: P = exp(scale · S − new max) in place; O and the sum
      // rescaled by exp(old max − new max).
      for (int64_t r = 0; r < rows; ++r) {
        const float old_max = row_max[r];
        const float sum = softmax_block(s + r * kKeyBlock, block, a.scale, &row_max[r]);
        const float alpha = fast_exp(old_max - row_max[r]);  // 0 on the first block (−inf)
        row_sum[r] = row_sum[r] * alpha + sum;
        if (j0 > 0)
          for (int64_t q = 0; q < dim_panels; ++q)
            for (int64_t e = 0; e < kPanel; ++e) o[(q * kFlashRows + r) * kPanel + e] *= alpha;
      }
      // O += P · V over the block's keys in one pass per register tile (its
      // sums stay in registers for all 512 keys, not reloaded every 64).
      for (int64_t q = 0; q < dim_panels; ++q) {
        const int64_t e0 = q * kPanel, width = std::min(kPanel, d - e0), ld = ceil_div(width, 16) * 16;
        const float* b = vp + n * e0 + j0 * ld;
        for (int64_t r = 0; r < rows; r += kTile)
          f32_tile(static_cast<int>(std::min<int64_t>(kTile, rows - r)), static_cast<int>(ld / 16), block, srows + r,
                   0, b, o + (q * kFlashRows + r) * kPanel, kPanel, j0 == 0);
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* out = oh + (i0 + r) * a.out_stride;
      for (int64_t e = 0; e < d; ++e) out[e] = o[((e / kPanel) * kFlashRows + r) * kPanel + e % kPanel] / row_sum[r];
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
