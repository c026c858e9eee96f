// bf16 conv2d over the bf16 GEMM (bf16_ops.h), two ways to feed it A:
//
//  - direct (stride 1, Cin a multiple of 32, output width a multiple of 16):
//    a band of output rows per work item; the input rows the band reads are
//    rounded to bf16 once, zero-padded, into a per-thread buffer, and the
//    AMX tiles load A from it in place (bf16_gemm.h, Bf16Rows): 16 output
//    pixels of a row are 16 input pixels Cin apart for every tap. A 3×3 conv
//    rounds each input value (band + 2) / band times instead of 9.
//  - im2col (everything else: stride 2, odd widths, the 4-channel conv_in,
//    an upsampled input read in place): each output pixel's k·k·Cin row
//    gathered and rounded as the GEMM needs it.
//
// Both hand the GEMM the same bf16 values in the same k order (tap-major,
// then channel), so they give the same bits (tested), and so do all
// blockings and thread counts.
#include <algorithm>
#include <vector>

#include "kernels/cpu/bf16_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

// Output pixels per direct work item, at least (whole rows): an SD UNet's
// 64-wide level gives 2 rows reading 4.
constexpr int64_t kBandPixels = 128;

bool direct_fits(const Conv2dArgs& a) {
  return a.stride == 1 && a.in_c % 32 == 0 && a.out_w() % 16 == 0 && a.out_h() > 0 && a.kernel >= 1;
}

void conv2d_bf16_direct(const Conv2dArgs& a, const float* x, const PackedBf16& w, const float* bias,
                        const float* residual, float* y) {
  const int64_t k = a.kernel, ci = a.in_c, oh = a.out_h(), ow = a.out_w(), n = w.n;
  const int64_t wp = a.in_w + 2 * a.pad;  // padded input width
  const int64_t band = std::max<int64_t>(1, (kBandPixels + ow - 1) / ow);
  const int64_t bands = (oh + band - 1) / band, row_blocks = a.batch * bands;
  const int64_t block_cols = bf16_block_cols(row_blocks, w);
  const int64_t col_blocks = (w.n_pad + block_cols - 1) / block_cols, items = row_blocks * col_blocks;
  const int64_t kt = w.k_pad / 32, chunks = ci / 32;
  const Bf16Isa isa = bf16_isa();
  const double flops = 2.0 * static_cast<double>(a.batch * oh * ow) * static_cast<double>(n * w.k);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t rb = item / col_blocks, n0 = (item % col_blocks) * block_cols;
    const int64_t b = rb / bands, oy0 = (rb % bands) * band, rows_out = std::min(band, oh - oy0);
    const int64_t m = rows_out * ow, m_pad = pad_to(m, 32), rows_in = rows_out + k - 1;
    const int64_t n1 = std::min(n0 + block_cols, w.n_pad), nc = std::min(n1, n) - n0;

    // The band's input rows in bf16, zero outside the image.
    thread_local std::vector<uint16_t> in;
    if (static_cast<int64_t>(in.size()) < rows_in * wp * ci) in.resize(static_cast<size_t>(rows_in * wp * ci));
    for (int64_t r = 0; r < rows_in; ++r) {
      const int64_t iy = oy0 - a.pad + r;
      uint16_t* dst = in.data() + r * wp * ci;
      if (iy < 0 || iy >= a.in_h) {
        std::fill(dst, dst + wp * ci, uint16_t{0});
        continue;
      }
      std::fill(dst, dst + a.pad * ci, uint16_t{0});
      to_bf16(x + ((b * a.in_h + iy) * a.in_w) * ci, a.in_w * ci, dst + a.pad * ci);
      std::fill(dst + (a.pad + a.in_w) * ci, dst + wp * ci, uint16_t{0});
    }
    // Group g: output pixels 16g .. 16g + 15 of the band, one output row;
    // groups past the band (padding to 32 rows) read group 0 and are dropped.
    thread_local std::vector<const uint16_t*> groups;
    thread_local std::vector<int64_t> koff;
    groups.resize(static_cast<size_t>(m_pad / 16));
    for (int64_t g = 0; g < m_pad / 16; ++g) {
      const int64_t p = g * 16 < m ? g * 16 : 0;
      groups[static_cast<size_t>(g)] = in.data() + ((p / ow) * wp + p % ow) * ci;
    }
    koff.resize(static_cast<size_t>(kt));
    for (int64_t t = 0; t < kt; ++t) {
      const int64_t tap = t / chunks, c = t % chunks;
      koff[static_cast<size_t>(t)] = ((tap / k) * wp + tap % k) * ci + c * 32;
    }
    float* c = scratch(2, m_pad * (n1 - n0));
    gemm_bf16_strided(isa, {groups.data(), koff.data(), 2 * ci}, m_pad, w, n0, n1, c, n1 - n0);
    const int64_t first = (b * oh + oy0) * ow;
    bf16_epilogue(c, n1 - n0, m, n0, nc, bias, residual ? residual + first * n : nullptr, y + first * n, n);
  }
}

}  // namespace

void conv2d_bf16(const Conv2dArgs& a, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y) {
  FARM_KERNEL_CHECK(w.k == a.kernel * a.kernel * a.in_c && w.n == a.out_c, "conv weight does not match its geometry");
  if (direct_fits(a)) return conv2d_bf16_direct(a, x, w, bias, residual, y);
  conv2d_bf16_im2col(a, 1, x, w, bias, residual, y);
}

void conv2d_upsampled_bf16(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w,
                           const float* bias, float* y) {
  FARM_KERNEL_CHECK(upsample >= 1 && a.in_h % upsample == 0 && a.in_w % upsample == 0,
                    "upsampled conv input not a multiple of the factor");
  conv2d_bf16_im2col(a, upsample, x, w, bias, nullptr, y);
}

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

}  // namespace farm::kernels::cpu
