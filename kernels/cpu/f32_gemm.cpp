// The AVX-512 fp32 implicit GEMM (f32_gemm.h).
//
// W is packed once per call: 64-row panels, transposed to k-major (16×16
// register transposes). A work item is a band of rows (at most the
// caller's max_band) and a block of panels. For each panel it walks k in
// chunks of 128 (32 KB of panel, in L1) and, for each chunk, every 6-row
// tile of the band: 6 × 64 outputs in 24 registers, one broadcast of A per
// row and 4 loads of W per k. Partial sums wait in a band × 64 buffer
// between chunks; the last chunk adds bias and residual (or, for a GEGLU
// panel, applies the gate) and writes y from the registers. With a
// k_block, an item walks that much k across all its panels before the
// next block, each panel's partial sums waiting in their own buffer.
#include "kernels/cpu/f32_gemm.h"

// Elsewhere than x86-64 the file builds without its kernels and
// f32_kernel_available() says no.
#if defined(__x86_64__) && !defined(FARM_NO_AVX512_KERNELS)
#define FARM_F32_AVX512 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

// GCC 12 reports the unused merge source inside the AVX-512 intrinsics'
// headers as uninitialised (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace farm::kernels::cpu {
#if defined(FARM_F32_AVX512)
namespace {

constexpr int64_t kPanel = 64;    // columns per packed panel
constexpr int64_t kChunk = 128;   // k per chunk: 128 × 64 floats = 32 KB
constexpr int kTile = 6;          // rows per register tile
constexpr int64_t kMinItems = 8;  // enough work items to balance up to 8 threads

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Where a tile's finished sums go: y[i, j] = sum + bias[j] (+ residual[i, j])
// for j < width, rows `ld` apart (residual may equal y).
// With `gate_bias` set (a GEGLU panel: vectors 0-1 the hidden columns,
// 2-3 their gates), y[i, j] = geglu_span of (hidden + bias, gate +
// gate_bias) for j < width ≤ 32: the unfused ops' arithmetic.
struct TileOut {
  float* y = nullptr;
  const float* residual = nullptr;
  const float* bias = nullptr;
  const float* gate_bias = nullptr;
  bool geglu = false;
  int64_t ld = 0, width = 0;
};

__mmask16 first_lanes(int64_t n) { return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1u); }

// c[i, 0 : 16V) (+)= Σ_{k < kc} a[i][off + k] · b[k, 0 : 16V) for i < R;
// with `out`, the sums go there instead of back to c.
template <int R, int V>
__attribute__((target("avx512f"))) void tile_kernel(int64_t kc, const float* const* a, int64_t off, const float* b,
                                                    float* c, int64_t ldc, bool first, const TileOut* out) {
  __m512 acc[R][V];
  const float* ap[R];
  // The last chunk writes y: ask for its lines (and the residual's) now, so
  // the stores' misses overlap this chunk's FMAs, as GotoBLAS kernels
  // prefetch C. Without it a product with a wide output stalls on them
  // (SD's GEGLU projection, 4096 × 320 → 2560: 31 → 23 ms, 2 threads).
  if (out) {
    const int64_t width = out->geglu ? std::min<int64_t>(out->width, 32) : out->width;
    for (int i = 0; i < R; ++i)
      for (int64_t j = 0; j < width; j += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(out->y + i * out->ld + j), _MM_HINT_ET0);
        if (out->residual) _mm_prefetch(reinterpret_cast<const char*>(out->residual + i * out->ld + j), _MM_HINT_T0);
      }
  }
  for (int i = 0; i < R; ++i) {
    ap[i] = a[i] + off;
    for (int v = 0; v < V; ++v) acc[i][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * v);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + k * 16 * V + 16 * v);
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(ap[i][k]);
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  if (!out) {
    for (int i = 0; i < R; ++i)
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
    return;
  }
  if constexpr (V == 4) {
    if (out->geglu) {
      alignas(64) float sums[64];
      __m512 bias[4];
      for (int v = 0; v < 4; ++v) {
        const float* b = v < 2 ? out->bias : out->gate_bias;
        bias[v] = b ? _mm512_maskz_loadu_ps(first_lanes(out->width - 16 * (v % 2)), b + 16 * (v % 2))
                    : _mm512_setzero_ps();
      }
      for (int i = 0; i < R; ++i) {
        for (int v = 0; v < 4; ++v)
          _mm512_store_ps(sums + 16 * v, out->bias ? _mm512_add_ps(acc[i][v], bias[v]) : acc[i][v]);
        geglu_span(out->width, sums, sums + 32, out->y + i * out->ld);
      }
      return;
    }
  }
  for (int v = 0; v < V; ++v) {
    const __mmask16 mask = first_lanes(out->width - 16 * v);
    const __m512 bias = out->bias ? _mm512_maskz_loadu_ps(mask, out->bias + 16 * v) : _mm512_setzero_ps();
    for (int i = 0; i < R; ++i) {
      __m512 sum = acc[i][v];
      if (out->bias) sum = _mm512_add_ps(sum, bias);
      if (out->residual) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, out->residual + i * out->ld + 16 * v));
      _mm512_mask_storeu_ps(out->y + i * out->ld + 16 * v, mask, sum);
    }
  }
}

using TileKernel = void (*)(int64_t, const float* const*, int64_t, const float*, float*, int64_t, bool,
                           const TileOut*);

template <int R>
TileKernel pick_v(int v) {
  switch (v) {
    case 1: return tile_kernel<R, 1>;
    case 2: return tile_kernel<R, 2>;
    case 3: return tile_kernel<R, 3>;
    default: return tile_kernel<R, 4>;
  }
}

TileKernel pick(int rows, int v) {
  switch (rows) {
    case 1: return pick_v<1>(v);
    case 2: return pick_v<2>(v);
    case 3: return pick_v<3>(v);
    case 4: return pick_v<4>(v);
    case 5: return pick_v<5>(v);
    default: return pick_v<6>(v);
  }
}

// out[k, j] = w[j · ldw + k] for k < kdim, j < 16; rows j ≥ width read as
// zero. One 16×16 block of k at a time through registers.
__attribute__((target("avx512f"))) void pack_16(const float* w, int64_t ldw, int64_t width, int64_t kdim,
                                                float* out, int64_t ldo) {
  int64_t k0 = 0;
  for (; k0 + 16 <= kdim; k0 += 16) {
    __m512 r[16], t[16], u[16];
    for (int j = 0; j < 16; ++j) r[j] = j < width ? _mm512_loadu_ps(w + j * ldw + k0) : _mm512_setzero_ps();
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // per lane: a0 b0 a1 b1
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
    }
    for (int i = 0; i < 4; ++i) {  // rows 4i .. 4i+3: u[4i + q] holds column 4L + q in lane L
      u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; ++q) {
      const __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
      const __m512 w0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
      const __m512 w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
      _mm512_storeu_ps(out + (k0 + q) * ldo, _mm512_shuffle_f32x4(v0, w0, 0x88));
      _mm512_storeu_ps(out + (k0 + 4 + q) * ldo, _mm512_shuffle_f32x4(v1, w1, 0x88));
      _mm512_storeu_ps(out + (k0 + 8 + q) * ldo, _mm512_shuffle_f32x4(v0, w0, 0xDD));
      _mm512_storeu_ps(out + (k0 + 12 + q) * ldo, _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
  }
  for (; k0 < kdim; ++k0)
    for (int64_t j = 0; j < 16; ++j) out[k0 * ldo + j] = j < width ? w[j * ldw + k0] : 0.0f;
}

// W's rows n0 .. n0 + width (≤ 64), ldw apart, as a k-major panel of
// 16·vecs columns.
void pack_panel(const float* w, int64_t ldw, int64_t kdim, int64_t n0, int64_t width, int vecs, float* out) {
  for (int v = 0; v < vecs; ++v)
    pack_16(w + (n0 + 16 * v) * ldw, ldw, std::min<int64_t>(16, width - 16 * v), kdim, out + 16 * v, 16 * vecs);
}

const float** pointer_table(int64_t n) {
  thread_local std::vector<const float*> table;
  if (static_cast<int64_t>(table.size()) < n) table.resize(static_cast<size_t>(n));
  return table.data();
}

}  // namespace
#endif  // FARM_F32_AVX512

void f32_pack_panel(const float* w, int64_t ldw, int64_t kdim, int64_t width, float* out) {
#if defined(FARM_F32_AVX512)
  FARM_KERNEL_CHECK(width >= 1 && width <= kPanel, "a panel is 1 to 64 rows of W");
  pack_panel(w, ldw, kdim, 0, width, static_cast<int>(ceil_div(width, 16)), out);
#else
  (void)w, (void)ldw, (void)kdim, (void)width, (void)out;
  FARM_KERNEL_CHECK(false, "f32_pack_panel needs x86-64 with AVX-512 (f32_kernel_available)");
#endif
}

void f32_tile(int rows, int vecs, int64_t kc, const float* const* a, int64_t off, const float* b, float* c,
              int64_t ldc, bool first) {
#if defined(FARM_F32_AVX512)
  FARM_KERNEL_CHECK(rows >= 1 && rows <= kTile && vecs >= 1 && vecs <= 4, "a register tile is 1-6 rows × 1-4 vectors");
  pick(rows, vecs)(kc, a, off, b, c, ldc, first, nullptr);
#else
  (void)rows, (void)vecs, (void)kc, (void)a, (void)off, (void)b, (void)c, (void)ldc, (void)first;
  FARM_KERNEL_CHECK(false, "f32_tile needs x86-64 with AVX-512 (f32_kernel_available)");
#endif
}

bool f32_kernel_available() {
  static const bool available = [] {
    const char* env = std::getenv("FARM_CPU_F32");
    if (env && std::strcmp(env, "blas") == 0) return false;
#if defined(FARM_F32_AVX512)
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return false;
#endif
  }();
  return available;
}

const float* zero_run(int64_t n) {
  // Sized once, generously (a conv's Cin is far below this); a longer
  // request is a bug in the caller.
  constexpr int64_t kZeros = int64_t{1} << 16;
  static const std::vector<float> zeros(static_cast<size_t>(kZeros), 0.0f);
  FARM_KERNEL_CHECK(n <= kZeros, "zero run longer than 65536");
  return zeros.data();
}

int64_t linear_band(int64_t k) { return std::clamp<int64_t>((int64_t{1} << 16) / std::max<int64_t>(k, 1), 48, 512); }

#if defined(FARM_F32_AVX512)
namespace {

// Which columns of W a panel holds and where its outputs go: plain (panel p
// = W's rows 64p .. 64p + 63, y[m, n]) or GEGLU (panel p = hidden rows 32p
// .. 32p + 31 and their gate rows inner + 32p .., y[m, inner]).
struct Columns {
  int64_t n = 0;      // rows of W
  bool geglu = false;
  int64_t inner() const { return n / 2; }
  int64_t panels() const { return geglu ? ceil_div(inner(), 32) : ceil_div(n, kPanel); }
  int64_t first(int64_t p) const { return geglu ? 32 * p : kPanel * p; }  // first output column
  int64_t width(int64_t p) const { return geglu ? std::min<int64_t>(32, inner() - 32 * p) : std::min(kPanel, n - kPanel * p); }
  int vecs(int64_t p) const { return geglu ? 4 : static_cast<int>(ceil_div(width(p), 16)); }
  int64_t ldy() const { return geglu ? inner() : n; }

  void pack(const float* w, int64_t kdim, int64_t p, float* out) const {
    if (!geglu) return pack_panel(w, kdim, kdim, first(p), width(p), vecs(p), out);
    const int64_t h = width(p), j = first(p);
    for (int half = 0; half < 2; ++half) {
      const float* rows = w + (half * inner() + j) * kdim;
      pack_16(rows, kdim, std::min<int64_t>(16, h), kdim, out + 32 * half, kPanel);
      pack_16(h > 16 ? rows + 16 * kdim : rows, kdim, h - 16, kdim, out + 32 * half + 16, kPanel);
    }
  }

  TileOut out(int64_t p, int64_t row, float* y, const float* residual, const float* bias) const {
    const int64_t at = row * ldy() + first(p);
    TileOut o{y + at, residual ? residual + at : nullptr, bias ? bias + first(p) : nullptr, nullptr, geglu, ldy(), width(p)};
    if (geglu && bias) o.gate_bias = bias + inner() + first(p);
    return o;
  }
};

void drive(int64_t m, int64_t segments, int64_t run, const RowPointers& rows, const float* w, const Columns& cols,
           const float* bias, const float* residual, float* y, int64_t max_band, int64_t k_block) {
  if (m == 0 || cols.n == 0) return;
  FARM_KERNEL_CHECK(max_band >= 1, "gemm_f32 needs a band of at least one row");
  const int64_t kdim = segments * run;
  const int64_t bands = ceil_div(m, max_band), band = ceil_div(m, bands);
  const int64_t panels = cols.panels();
  const int64_t col_blocks = bands >= kMinItems ? 1 : std::min(panels, ceil_div(kMinItems, bands));
  const int64_t block_panels = ceil_div(panels, col_blocks), items = bands * ceil_div(panels, block_panels);
  // k in chunks of kChunk within each segment; `group` chunks (k_block of
  // k) per pass over the item's panels.
  const int64_t seg_chunks = ceil_div(run, kChunk), chunks = segments * seg_chunks;
  const int64_t group = k_block > 0 ? std::max<int64_t>(1, k_block / kChunk) : chunks;
  const bool grouped = group < chunks;
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(cols.n) * static_cast<double>(kdim);
  const bool parallel = worth_parallel(flops);
  // W packed once per call, every panel kdim × 64 floats apart: with the
  // panels packed per work item, each band of rows repacked all of W.
  // On the calling thread, which the OpenMP workers read; slot 5 is
  // never a worker's (they use 4).
  float* packed = scratch(5, panels * kdim * kPanel);
#pragma omp parallel for schedule(static) if (panels > 1 && parallel)
  for (int64_t p = 0; p < panels; ++p) cols.pack(w, kdim, p, packed + p * kdim * kPanel);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && parallel)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t m0 = (item / ceil_div(panels, block_panels)) * band, mb = std::min(band, m - m0);
    const int64_t p0 = (item % ceil_div(panels, block_panels)) * block_panels;
    const int64_t p1 = std::min(panels, p0 + block_panels);
    const float** ptrs = pointer_table(segments * band);
    for (int64_t t = 0; t < segments; ++t)
      for (int64_t i = 0; i < mb; i += kTile)
        rows(m0 + i, static_cast<int>(std::min<int64_t>(kTile, mb - i)), t, ptrs + t * band + i);
    // Partial sums, band × 64 per panel; kept for every panel of the item
    // when k is walked in groups (each panel's sums wait for the next).
    float* sums = scratch(4, band * kPanel * (grouped ? p1 - p0 : 1));
    for (int64_t g0 = 0; g0 < chunks; g0 += group)
      for (int64_t p = p0; p < p1; ++p) {
        const int vecs = cols.vecs(p);
        const float* panel = packed + p * kdim * kPanel;
        float* c = sums + (grouped ? (p - p0) * band * kPanel : 0);
        for (int64_t q = g0; q < std::min(chunks, g0 + group); ++q) {
          const int64_t t = q / seg_chunks, c0 = (q % seg_chunks) * kChunk;
          const int64_t kc = std::min(kChunk, run - c0);
          const float* b = panel + (t * run + c0) * 16 * vecs;
          const bool first = q == 0, last = q == chunks - 1;
          for (int64_t i = 0; i < mb; i += kTile) {
            const int r = static_cast<int>(std::min<int64_t>(kTile, mb - i));
            const TileOut out = cols.out(p, m0 + i, y, residual, bias);
            pick(r, vecs)(kc, ptrs + t * band + i, c0, b, c + i * kPanel, kPanel, first, last ? &out : nullptr);
          }
        }
      }
  }
}

}  // namespace
#endif  // FARM_F32_AVX512

void gemm_f32(int64_t m, int64_t segments, int64_t run, const RowPointers& rows, const float* w, int64_t n,
              const float* bias, const float* residual, float* y, int64_t max_band, int64_t k_block) {
#if !defined(FARM_F32_AVX512)
  (void)m, (void)segments, (void)run, (void)rows, (void)w, (void)n, (void)bias, (void)residual, (void)y,
      (void)max_band, (void)k_block;
  FARM_KERNEL_CHECK(false, "gemm_f32 needs x86-64 with AVX-512 (f32_kernel_available)");
#else
  drive(m, segments, run, rows, w, Columns{n, false}, bias, residual, y, max_band, k_block);
#endif
}

void gemm_geglu_f32(int64_t m, int64_t k, const RowPointers& rows, const float* w, int64_t inner, const float* bias,
                    float* y, int64_t max_band, int64_t k_block) {
#if !defined(FARM_F32_AVX512)
  (void)m, (void)k, (void)rows, (void)w, (void)inner, (void)bias, (void)y, (void)max_band, (void)k_block;
  FARM_KERNEL_CHECK(false, "gemm_geglu_f32 needs x86-64 with AVX-512 (f32_kernel_available)");
#else
  drive(m, 1, k, rows, w, Columns{2 * inner, true}, bias, nullptr, y, max_band, k_block);
#endif
}

}  // namespace farm::kernels::cpu
