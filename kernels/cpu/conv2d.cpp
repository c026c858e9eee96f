// Convolution as GEMM. With AVX-512, the implicit GEMM of f32_gemm.h reads
// each tap's Cin run of the NHWC input in place (an upsampled input too).
// Without it: per sample, im2col gathers each output pixel's k·k·Cin
// receptive field (NHWC makes each kernel tap one contiguous Cin run) into a
// row, then y[pixels, Cout] = col[pixels, k·k·Cin] · w[Cout, k·k·Cin]^T.
// A 1×1 stride-1 unpadded conv is that GEMM on x itself. The GEMM runs as
// blocks over OpenMP threads (gemm.h), bias and residual fused per block.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/f32_gemm.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

// im2col is done in tiles of output pixels of at most this many floats
// (16 MB) so a VAE-decoder conv at 512×512 does not need gigabytes. The tile
// depends only on the per-sample shape, keeping the op batch invariant.
constexpr int64_t kIm2colTileFloats = int64_t{1} << 22;

// col[r, (ky·k + kx)·Cin + ci] for output pixels p0 .. p0+rows of one sample;
// xb holds the input downsampled by `up` (pixel (iy, ix) is xb's (iy/up, ix/up)).
void im2col(const Conv2dArgs& a, int up, const float* xb, int64_t p0, int64_t rows, float* col) {
  const int64_t ow = a.out_w(), k = a.kernel, ci = a.in_c, kdim = k * k * ci, src_w = a.in_w / up;
#pragma omp parallel for schedule(static) if (rows * kdim > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t oy = (p0 + r) / ow, ox = (p0 + r) % ow;
    float* dst = col + r * kdim;
    for (int64_t ky = 0; ky < k; ++ky) {
      const int64_t iy = oy * a.stride - a.pad + ky;
      for (int64_t kx = 0; kx < k; ++kx, dst += ci) {
        const int64_t ix = ox * a.stride - a.pad + kx;
        if (iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w) {
          std::memset(dst, 0, sizeof(float) * ci);  // zero padding
        } else {
          std::memcpy(dst, xb + ((iy / up) * src_w + ix / up) * ci, sizeof(float) * ci);
        }
      }
    }
  }
}

void conv2d_im2col(const Conv2dArgs& a, int up, const float* x, const float* w, const float* bias,
                   const float* residual, float* y) {
  FARM_KERNEL_CHECK(a.kernel > 0 && a.stride > 0 && a.pad >= 0, "bad conv geometry");
  FARM_KERNEL_CHECK(up >= 1 && a.in_h % up == 0 && a.in_w % up == 0, "upsampled conv input not a multiple of 2");
  const int64_t pixels = a.out_h() * a.out_w();
  const int64_t kdim = int64_t{a.kernel} * a.kernel * a.in_c;
  const int64_t in_size = (a.in_h / up) * (a.in_w / up) * a.in_c, out_size = pixels * a.out_c;
  const bool direct = up == 1 && a.kernel == 1 && a.stride == 1 && a.pad == 0;
  const int64_t tile = direct ? pixels : std::clamp(kIm2colTileFloats / kdim, int64_t{1}, pixels);
  // y = conv(x) + residual with residual == y (an in-place skip add) needs the
  // GEMM result staged before the epilogue reads the residual.
  const bool staged = residual != nullptr && residual == y;
  float* col = direct ? nullptr : scratch(0, tile * kdim);
  float* stage = staged ? scratch(1, tile * a.out_c) : nullptr;

  for (int64_t b = 0; b < a.batch; ++b) {
    const float* xb = x + b * in_size;
    float* yb = y + b * out_size;
    const float* rb = residual ? residual + b * out_size : nullptr;
    for (int64_t p0 = 0; p0 < pixels; p0 += tile) {
      const int64_t rows = std::min(tile, pixels - p0);
      const float* lhs = xb + p0 * a.in_c;
      if (!direct) {
        im2col(a, up, xb, p0, rows, col);
        lhs = col;
      }
      float* yt = yb + p0 * a.out_c;
      const float* rt = rb ? rb + p0 * a.out_c : nullptr;
      float* c = staged ? stage : yt;
      parallel_sgemm_nt(rows, a.out_c, kdim, lhs, kdim, w, kdim, c, a.out_c,
                        [&](int64_t m0, int64_t mr, int64_t n0, int64_t nc) {
                          const int64_t at = m0 * a.out_c + n0;
                          add_bias_residual(mr, nc, a.out_c, c + at, bias ? bias + n0 : nullptr,
                                            rt ? rt + at : nullptr, yt + at);
                        });
    }
  }
}

// The AVX-512 implicit GEMM (f32_gemm.h): tap t of output pixel m reads
// its input pixel's Cin run in place, or a run of zeros outside the image.
void conv2d_direct(const Conv2dArgs& a, int up, const float* x, const float* w, const float* bias,
                   const float* residual, float* y) {
  FARM_KERNEL_CHECK(a.kernel > 0 && a.stride > 0 && a.pad >= 0, "bad conv geometry");
  FARM_KERNEL_CHECK(up >= 1 && a.in_h % up == 0 && a.in_w % up == 0, "upsampled conv input not a multiple of 2");
  const int64_t k = a.kernel, ci = a.in_c, ow = a.out_w(), pixels = a.out_h() * ow;
  const int64_t src_w = a.in_w / up, in_size = (a.in_h / up) * src_w * ci;
  const float* zeros = zero_run(ci);
  const RowPointers rows = [&](int64_t m0, int count, int64_t tap, const float** p) {
    const int64_t ky = tap / k, kx = tap % k;
    for (int i = 0; i < count; ++i) {
      const int64_t b = (m0 + i) / pixels, pix = (m0 + i) % pixels;
      const int64_t iy = (pix / ow) * a.stride - a.pad + ky, ix = (pix % ow) * a.stride - a.pad + kx;
      const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
      p[i] = inside ? x + b * in_size + ((iy / up) * src_w + ix / up) * ci : zeros;
    }
  };
  // A band of 512 output pixels reads a few input rows (a 64-wide level: 10
  // rows, 800 KB at 320 channels), whatever K is.
  gemm_f32(a.batch * pixels, k * k, ci, rows, w, a.out_c, bias, residual, y, 512);
}

}  // namespace

void conv2d(const Conv2dArgs& a, const float* x, const float* w, const float* bias, const float* residual,
            float* y) {
  if (f32_kernel_available()) return conv2d_direct(a, 1, x, w, bias, residual, y);
  conv2d_im2col(a, 1, x, w, bias, residual, y);
}

void conv2d_upsampled2x(const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y) {
  if (f32_kernel_available()) return conv2d_direct(a, 2, x, w, bias, nullptr, y);
  conv2d_im2col(a, 2, x, w, bias, nullptr, y);
}

}  // namespace farm::kernels::cpu
