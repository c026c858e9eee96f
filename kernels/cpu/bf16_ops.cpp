// bf16 conv2d, linear and attention over the bf16 GEMM (bf16_ops.h).
#include "kernels/cpu/bf16_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/softmax.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

// Query rows per attention work item: S for 32 rows × 4096 keys is 512 KB,
// and with P (256 KB) stays in a 2 MB L2.
constexpr int64_t kQueryTile = 32;

// Attention's packed K and V, on the calling thread, reused across calls.
std::vector<uint16_t>& packed_kv_buffer() {
  thread_local std::vector<uint16_t> buffer;
  return buffer;
}

void conv2d_bf16_im2col(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w, const float* bias,
                        const float* residual, float* y);

uint16_t* grow(std::vector<uint16_t>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace

void linear_bf16(int64_t batch, int64_t rows, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y) {
  const int64_t in = w.k;
  parallel_gemm_bf16(
      batch * rows,
      [&](int64_t m, uint16_t* row) {
        to_bf16(x + m * in, in, row);
        std::fill(row + in, row + w.k_pad, uint16_t{0});
      },
      w, bias, residual, y);
}

void conv2d_bf16(const Conv2dArgs& a, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y) {
  conv2d_bf16_im2col(a, 1, x, w, bias, residual, y);
}

void conv2d_upsampled_bf16(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w,
                           const float* bias, float* y) {
  FARM_KERNEL_CHECK(upsample >= 1 && a.in_h % upsample == 0 && a.in_w % upsample == 0,
                    "upsampled conv input not a multiple of the factor");
  conv2d_bf16_im2col(a, upsample, x, w, bias, nullptr, y);
}

namespace {

void conv2d_bf16_im2col(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w, const float* bias,
                        const float* residual, float* y) {
  FARM_KERNEL_CHECK(a.kernel > 0 && a.stride > 0 && a.pad >= 0, "bad conv geometry");
  const int64_t k = a.kernel, ci = a.in_c, ow = a.out_w(), pixels = a.out_h() * ow;
  FARM_KERNEL_CHECK(w.k == k * k * ci && w.n == a.out_c, "conv weight does not match its geometry");
  // im2col rounds each tap's Cin run to bf16 as it gathers it: 9 roundings
  // per input value for a 3×3, but no bf16 copy of the input (134 MB at a
  // VAE decoder's 512² × 256) beside it at the decode's memory peak.
  // Upsampled input: pixel (iy, ix) of the upsampled image is x's (iy / f, ix / f).
  const int64_t src_w = a.in_w / upsample, in_size = (a.in_h / upsample) * src_w * ci;
  parallel_gemm_bf16(
      a.batch * pixels,
      [&](int64_t m, uint16_t* row) {
        const int64_t b = m / pixels, p = m % pixels, oy = p / ow, ox = p % ow;
        const float* src = x + b * in_size;
        uint16_t* at = row;
        for (int64_t ky = 0; ky < k; ++ky) {
          const int64_t iy = oy * a.stride - a.pad + ky;
          for (int64_t kx = 0; kx < k; ++kx, at += ci) {
            const int64_t ix = ox * a.stride - a.pad + kx;
            if (iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w)
              std::fill(at, at + ci, uint16_t{0});
            else
              to_bf16(src + ((iy / upsample) * src_w + ix / upsample) * ci, ci, at);
          }
        }
        std::fill(at, row + w.k_pad, uint16_t{0});
      },
      w, bias, residual, y);
}

}  // namespace

void attention_bf16(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  const int64_t d = a.head_dim, n = a.kv_len;
  FARM_KERNEL_CHECK(a.q_stride >= a.heads * d && a.kv_stride >= a.heads * d && a.out_stride >= a.heads * d,
                    "attention strides shorter than heads * head_dim");
  const int64_t pairs = a.batch * a.heads;
  // K and V of every (sample, head), packed once for all query tiles: K as
  // W[n, d] (S = Q·K^T), V as W[d, n] (O = P·V).
  const int64_t k_elems = packed_elements(n, d), v_elems = packed_elements(d, n);
  uint16_t* packed = grow(packed_kv_buffer(), pairs * (k_elems + v_elems));
  const double flops = 4.0 * static_cast<double>(pairs * a.q_len) * static_cast<double>(n * d);
#pragma omp parallel for schedule(static) if (pairs > 1 && worth_parallel(flops))
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const int64_t b = pair / a.heads, h = pair % a.heads;
    const int64_t at = b * n * a.kv_stride + h * d;
    pack_bf16(k + at, n, d, a.kv_stride, 1, packed + pair * (k_elems + v_elems));
    pack_bf16(v + at, d, n, 1, a.kv_stride, packed + pair * (k_elems + v_elems) + k_elems);
  }

  const int64_t tiles = (a.q_len + kQueryTile - 1) / kQueryTile, items = pairs * tiles;
  const Bf16Isa isa = bf16_isa();
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t pair = item / tiles, b = pair / a.heads, h = pair % a.heads;
    const int64_t i0 = (item % tiles) * kQueryTile, rows = std::min(kQueryTile, a.q_len - i0);
    const uint16_t* kp = packed + pair * (k_elems + v_elems);
    const PackedBf16 kw{n, d, pad_to(n, 16), pad_to(d, 32), kp};
    const PackedBf16 vw{d, n, pad_to(d, 16), pad_to(n, 32), kp + k_elems};
    const int64_t m_pad = pad_to(rows, 32);
    // Causal tiles skip the keys no row of the tile can see (query i sees keys 0..i).
    const int64_t seen = a.causal ? std::min(n, i0 + rows) : n;

    // S = Q · K^T over this tile's rows, Q and then P written straight in
    // the GEMM's tile order (fp32 scratch holds two bf16 each).
    float* s = scratch(0, m_pad * std::max(kw.n_pad, vw.n_pad));
    float* row_sum = scratch(3, m_pad);
    const int64_t a_elems = m_pad * std::max(kw.k_pad, vw.k_pad);
    uint16_t* at = reinterpret_cast<uint16_t*>(scratch(1, (a_elems + 1) / 2 + std::max(kw.k_pad, vw.k_pad)));
    uint16_t* row = at + a_elems;  // one row in row order, then scattered by 32-element runs
    auto put_row = [&](int64_t r, int64_t k_pad) {
      for (int64_t t = 0; t < k_pad / 32; ++t) std::memcpy(at + tile_index(k_pad, r, t * 32), row + t * 32, 64);
    };
    std::memset(at, 0, sizeof(uint16_t) * static_cast<size_t>(m_pad * kw.k_pad));
    std::fill(row, row + kw.k_pad, uint16_t{0});
    const float* qh = q + (b * a.q_len + i0) * a.q_stride + h * d;
    for (int64_t r = 0; r < rows; ++r) {
      to_bf16(qh + r * a.q_stride, d, row);
      put_row(r, kw.k_pad);
    }
    gemm_bf16_tiles(isa, at, m_pad, kw, 0, pad_to(seen, 16), s, kw.n_pad);
    // P = exp(scale·S - max) rounded to bf16: the second GEMM's A, written
    // in its tile order row by row; padding rows are zero.
    if (rows < m_pad)
      std::memset(at + tile_index(vw.k_pad, rows - rows % 16, 0), 0,
                  sizeof(uint16_t) * static_cast<size_t>((m_pad - rows + rows % 16) * vw.k_pad));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t visible = a.causal ? std::min(i0 + r + 1, n) : n;
      row_sum[r] = softmax_bf16_tiles(isa, s + r * kw.n_pad, visible, vw.k_pad, a.scale, at + tile_index(vw.k_pad, r, 0));
    }
    // O = P · V into s (S is spent), then divided by the row sums.
    gemm_bf16_tiles(isa, at, m_pad, vw, 0, vw.n_pad, s, vw.n_pad);
    float* o = out + (b * a.q_len + i0) * a.out_stride + h * d;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < d; ++e) o[r * a.out_stride + e] = s[r * vw.n_pad + e] / row_sum[r];
  }
}

}  // namespace farm::kernels::cpu
