// bf16 attention (bf16_ops.h), flash style on the CPU: a work item is one
// (sample, head) and a tile of query rows; it walks the keys in blocks,
// keeping per row the running max, the running sum and an fp32 output that
// is rescaled when the max grows. S and P of one block (128 × 512) sit in
// L2 with the block's K and V, and K and V are read once per 128 query rows.
// (With all 4096 keys at once, S of even 32 rows was 512 KB and K and V were
// streamed again for every 32 rows: SD 1.5's 64² self-attention was bound
// by L2 traffic, not by the AMX products.)
//
// Numerics: S = bf16(Q)·bf16(K)^T summed in fp32, softmax in fp32 with P
// rounded to bf16 for P·V. A row's result depends only on its own query,
// the keys and the block size, never on the tile, the batch or the threads.
// A row whose keys fit one block gets exactly the one-pass softmax.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/bf16_ops.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

constexpr int64_t kQueryTile = 128;  // query rows per work item
constexpr int64_t kKeyBlock = 512;   // keys per block (a multiple of 32)

// Attention's packed K and V, on the calling thread, reused across calls.
uint16_t* packed_kv(int64_t n) {
  thread_local std::vector<uint16_t> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

}  // namespace

void attention_bf16(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  const int64_t d = a.head_dim, n = a.kv_len;
  FARM_KERNEL_CHECK(a.kv_head_count() > 0 && a.heads % a.kv_head_count() == 0,
                    "attention heads not a multiple of kv_heads");
  FARM_KERNEL_CHECK(
      a.q_stride >= a.heads * d && a.kv_stride >= a.kv_head_count() * d && a.out_stride >= a.heads * d,
      "attention strides shorter than heads * head_dim");
  const int64_t pairs = a.batch * a.heads;
  // K of every (sample, head) packed whole as W[n, d] (a block of keys is a
  // range of its rows); V packed per block of keys as W[d, block].
  const int64_t blocks = (n + kKeyBlock - 1) / kKeyBlock, block_len = std::min(n, kKeyBlock);
  const int64_t k_elems = packed_elements(n, d), vb_elems = packed_elements(d, block_len);
  const int64_t pair_elems = k_elems + blocks * vb_elems;
  uint16_t* packed = packed_kv(pairs * pair_elems);
  const double flops = 4.0 * static_cast<double>(pairs * a.q_len) * static_cast<double>(n * d);
#pragma omp parallel for schedule(static) if (pairs > 1 && worth_parallel(flops))
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const int64_t b = pair / a.heads, h = pair % a.heads;
    // Grouped-query heads pack their shared k/v head again: simple, and the
    // packing is a small share of the work at text-encoder lengths.
    const int64_t at = b * n * a.kv_stride + a.kv_head(h) * d;
    uint16_t* dst = packed + pair * pair_elems;
    pack_bf16(k + at, n, d, a.kv_stride, 1, dst);
    for (int64_t kb = 0; kb < blocks; ++kb) {
      const int64_t j0 = kb * kKeyBlock, len = std::min(kKeyBlock, n - j0);
      pack_bf16(v + at + j0 * a.kv_stride, d, len, 1, a.kv_stride, dst + k_elems + kb * vb_elems);
    }
  }

  const int64_t tiles = (a.q_len + kQueryTile - 1) / kQueryTile, items = pairs * tiles;
  const Bf16Isa isa = bf16_isa();
  const int64_t d_pad16 = pad_to(d, 16), d_pad32 = pad_to(d, 32);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t pair = item / tiles, b = pair / a.heads, h = pair % a.heads;
    const int64_t i0 = (item % tiles) * kQueryTile, rows = std::min(kQueryTile, a.q_len - i0);
    const uint16_t* kp = packed + pair * pair_elems;
    const PackedBf16 kw{n, d, pad_to(n, 16), d_pad32, kp};
    const int64_t m_pad = pad_to(rows, 32), p_kpad = pad_to(block_len, 32);
    // Causal tiles skip the keys no row of the tile can see (query i sees keys 0..i).
    const int64_t seen = a.causal ? std::min(n, i0 + rows) : n;

    float* s = scratch(0, m_pad * std::max(pad_to(block_len, 16), d_pad16));  // S, then P·V of a block
    float* acc = scratch(1, m_pad * d_pad16);  // running output
    float* stats = scratch(3, 2 * m_pad);      // running max, running sum
    uint16_t* qt = reinterpret_cast<uint16_t*>(scratch(4, m_pad * d_pad32 / 2));
    uint16_t* pt = reinterpret_cast<uint16_t*>(scratch(5, m_pad * p_kpad / 2));
    float* row_max = stats;
    float* row_sum = stats + m_pad;
    std::fill(row_max, row_max + m_pad, -std::numeric_limits<float>::infinity());
    std::fill(row_sum, row_sum + m_pad, 0.0f);
    std::fill(acc, acc + m_pad * d_pad16, 0.0f);

    // Q in the GEMM's tile order, rows past the tile zero.
    std::memset(qt, 0, sizeof(uint16_t) * static_cast<size_t>(m_pad * d_pad32));
    const float* qh = q + (b * a.q_len + i0) * a.q_stride + h * d;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t t = 0; t < d_pad32 / 32; ++t) {
        const int64_t c0 = t * 32, len = std::min<int64_t>(32, d - c0);
        to_bf16(qh + r * a.q_stride + c0, len, qt + tile_index(d_pad32, r, c0));
      }

    for (int64_t kb = 0; kb * kKeyBlock < seen; ++kb) {
      const int64_t j0 = kb * kKeyBlock, len = std::min(kKeyBlock, n - j0), cols = std::min(len, seen - j0);
      const int64_t ld = pad_to(block_len, 16);
      gemm_bf16_tiles(isa, qt, m_pad, kw, j0, std::min(j0 + pad_to(cols, 16), kw.n_pad), s, ld);
      // P of this block, rescaling what the rows hold when their max grows.
      const int64_t kpad = pad_to(len, 32);
      if (rows < m_pad)
        std::memset(pt + tile_index(kpad, rows - rows % 16, 0), 0,
                    sizeof(uint16_t) * static_cast<size_t>((m_pad - rows + rows % 16) * kpad));
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t visible = a.causal ? std::clamp<int64_t>(i0 + r + 1 - j0, 0, len) : len;
        const float before = row_max[r];
        const float sum = softmax_bf16_tiles(isa, s + r * ld, visible, kpad, a.scale, &row_max[r],
                                             pt + tile_index(kpad, r, 0));
        if (kb == 0) {
          row_sum[r] = sum;
          continue;
        }
        const float keep = before == row_max[r] ? 1.0f : fast_exp(before - row_max[r]);
        row_sum[r] = row_sum[r] * keep + sum;
        if (keep != 1.0f)
          for (int64_t e = 0; e < d; ++e) acc[r * d_pad16 + e] *= keep;
      }
      const PackedBf16 vw{d, len, d_pad16, kpad, kp + k_elems + kb * vb_elems};
      gemm_bf16_tiles(isa, pt, m_pad, vw, 0, d_pad16, s, d_pad16);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t e = 0; e < d; ++e) acc[r * d_pad16 + e] += s[r * d_pad16 + e];
    }
    float* o = out + (b * a.q_len + i0) * a.out_stride + h * d;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < d; ++e) o[r * a.out_stride + e] = acc[r * d_pad16 + e] / row_sum[r];
  }
}

}  // namespace farm::kernels::cpu
