// The fp32 GEMM of the cpu backend on CPUs with AVX-512: an implicit GEMM
// whose A rows are found through pointers, so a convolution reads its NHWC
// input in place (no im2col, no padded copy) and a linear its rows.
//
//   y[m, :] = Σ_k A(m, k) · W[:, k] + bias (+ residual[m, :])
//
// K is `segments` runs of `run` elements: run t of row m starts at the
// pointer RowPointers gives for (m, t) (a conv's tap t: the input pixel the
// tap reads, or a zero run for padding; a linear has one run, the row).
//
// Arithmetic: each element of y is one fp32 FMA chain over k in order
// (segment, then element), started from zero, then + bias, then +
// residual. The blocking (bands of rows, panels of 64 columns, chunks of
// k) changes where partial sums are kept, never the order, so the bits of
// an element depend on its row of A and its column of W alone: batch and
// thread-count invariant by construction (invariant 1).
//
// Used by the fp32 convolutions (conv2d.cpp). Over OpenBLAS (gemm.h, still
// the path without AVX-512) each 256-row block repacked the whole weight,
// and a 3×3 conv's im2col copy was written and then packed again: the SD
// 1.5 VAE decode at 512² went from 12.8 s to 10.2 s, the UNet's convs from
// 3.9 s to 3.5 s a step (2 threads, AMX VM). Also every linear (linear.cpp),
// every GEGLU projection (gemm_geglu_f32) and both products of the flash
// attention (attention.cpp, through f32_tile).
#pragma once

#include <cstdint>
#include <functional>

namespace farm::kernels::cpu {

// Whether this CPU runs the AVX-512 kernel (checked once); FARM_CPU_F32=blas
// in the environment turns it off (tests, and comparing the two paths).
bool f32_kernel_available();

// Writes p[i] = the start of run `segment` of row m0 + i, i < count (≤ 6).
using RowPointers = std::function<void(int64_t m0, int count, int64_t segment, const float** p)>;

// w is [n, segments · run] row-major (a conv's [Cout, k, k, Cin]). bias and
// residual may be null; residual may equal y (each row of y is written only
// after its sums are complete). A work item covers at most max_band rows:
// what it reads of A should stay in L2 (a linear's band × K floats; a
// conv's few input rows). With k_block > 0 an item walks k_block of k
// (whole 128-k chunks) across all its panels before the next, keeping each
// panel's partial sums meanwhile: then only band × k_block of A need stay
// in L2, and a band can be wider (long k). Same order of sums either way.
// Spreads over the OpenMP threads; must not be called from inside a
// parallel region.
void gemm_f32(int64_t m, int64_t segments, int64_t run, const RowPointers& rows, const float* w, int64_t n,
              const float* bias, const float* residual, float* y, int64_t max_band, int64_t k_block = 0);

// GEGLU fused into its projection (diffusers' GEGLU): w is [2·inner, k],
// hidden rows first, then gates; y[m, j] = hidden · gelu(gate) for j <
// inner, from the same sums as gemm_f32 into [m, 2·inner] followed by the
// geglu op (same bits), without that product ever being written.
void gemm_geglu_f32(int64_t m, int64_t k, const RowPointers& rows, const float* w, int64_t inner, const float* bias,
                    float* y, int64_t max_band, int64_t k_block = 0);

// A linear's band: its rows of A within 512 KB (a quarter of this L2, beside
// the panels streaming through), 48 to 512 rows.
int64_t linear_band(int64_t k);

// The pieces, for kernels that drive the tiles themselves (attention.cpp);
// both need f32_kernel_available().
//
// W's first `width` (1 to 64) rows, ldw apart, packed k-major: out[k · 16v
// + j] = W[j, k] for k < kdim, v = ceil(width / 16), zeros for j ≥ width.
void f32_pack_panel(const float* w, int64_t ldw, int64_t kdim, int64_t width, float* out);
// One register tile: c[i, 0 : 16·vecs) = (first ? 0 : c[i, ·]) + Σ_{k < kc}
// a[i][off + k] · b[k · 16·vecs + ·], for i < rows (1 to 6), vecs 1 to 4; c's
// rows are ldc floats apart. One FMA chain per element, in k order.
void f32_tile(int rows, int vecs, int64_t kc, const float* const* a, int64_t off, const float* b, float* c,
              int64_t ldc, bool first);

// A run of at least n zeros, for padding taps (shared, never written).
const float* zero_run(int64_t n);

}  // namespace farm::kernels::cpu
