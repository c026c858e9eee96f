// Packing, the portable kernel and the block-parallel driver of the bf16
// GEMM (bf16_gemm.h). The AMX kernel is in bf16_gemm_amx.cpp, the one file
// built with AMX instructions.
#include "kernels/cpu/bf16_gemm.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/gemm.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {

// bf16_gemm_amx.cpp
void gemm_bf16_strided_amx(const Bf16Rows& a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1, float* c,
                           int64_t ldc);
bool to_bf16_avx512(const float* x, int64_t n, uint16_t* out);
float softmax_bf16_tiles_avx512(const float* s, int64_t visible, int64_t k_pad, float scale, float* row_max,
                                uint16_t* out);

namespace {

// Row blocks of this many rows (a multiple of 32, the AMX kernel's height);
// columns split only when there are fewer than kMinItems row blocks.
constexpr int64_t kBlockRows = 128;
constexpr int64_t kMinItems = 8;
constexpr int64_t kMinBlockCols = 64;

// Rounds to nearest even as VCVTNE2PS2BF16 does: denormal inputs become
// signed zero (DAZ), NaN stays a quiet NaN.
inline uint16_t round_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float widen(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline int64_t packed_index(int64_t k_pad, int64_t row, int64_t col) {
  const int64_t tile = (row / 16) * (k_pad / 32) + col / 32;
  return tile * 512 + (col % 32 / 2) * 32 + (row % 16) * 2 + col % 2;
}

// The portable kernel: the same exact products summed in fp32, in k order.
// AMX sums them in an order (and internal precision) of its own, so the two
// kernels differ in the last bits; each is invariant on its own.
__attribute__((target_clones("avx512f", "avx2", "default"))) void gemm_bf16_strided_portable(
    const Bf16Rows& a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1, float* c, int64_t ldc) {
  const int64_t kt = w.k_pad / 32, row_elems = a.row_bytes / 2;
  for (int64_t nb = n0 / 16; nb * 16 < n1; ++nb) {
    const uint16_t* panel = w.data + nb * kt * 512;
    for (int64_t m = 0; m < m_pad; ++m) {
      const uint16_t* arow = a.groups[m / 16] + (m % 16) * row_elems;
      float acc[16] = {};
      for (int64_t t = 0; t < kt; ++t) {
        const uint16_t* ak = arow + a.koff[t];
        for (int64_t p = 0; p < 16; ++p) {
          const float a0 = widen(ak[2 * p]), a1 = widen(ak[2 * p + 1]);
          const uint16_t* brow = panel + t * 512 + p * 32;
          for (int j = 0; j < 16; ++j) acc[j] = acc[j] + a0 * widen(brow[2 * j]) + a1 * widen(brow[2 * j + 1]);
        }
      }
      std::memcpy(c + m * ldc + (nb * 16 - n0), acc, sizeof acc);
    }
  }
}

uint16_t* bf16_scratch(int64_t n) { return static_cast<uint16_t*>(aligned_scratch(6, n * 2)); }

}  // namespace

const char* bf16_isa_name(Bf16Isa isa) { return isa == Bf16Isa::amx ? "amx" : "portable"; }

Bf16Isa bf16_isa() {
  static const Bf16Isa isa = [] {
    const char* env = std::getenv("FARM_CPU_BF16");
    if (env && std::string_view(env) == "portable") return Bf16Isa::portable;
    return amx_available() ? Bf16Isa::amx : Bf16Isa::portable;
  }();
  return isa;
}

void to_bf16(const float* x, int64_t n, uint16_t* out) {
  if (bf16_isa() == Bf16Isa::amx && to_bf16_avx512(x, n, out)) return;
  for (int64_t i = 0; i < n; ++i) out[i] = round_bf16(x[i]);
}

void pack_bf16(const float* w, int64_t n, int64_t k, int64_t row_stride, int64_t col_stride, uint16_t* out) {
  const int64_t k_pad = pad_to(k, 32), kt = k_pad / 32;
  std::memset(out, 0, sizeof(uint16_t) * static_cast<size_t>(packed_elements(n, k)));
  if (col_stride == 1) {
    // Row by row: round the row, then each k pair is one 32-bit word whose
    // place in the tile is (pair % 16) · 16 + row % 16 words.
    thread_local std::vector<uint16_t> row;
    row.assign(static_cast<size_t>(k_pad), 0);
    for (int64_t r = 0; r < n; ++r) {
      to_bf16(w + r * row_stride, k, row.data());
      uint32_t* panel = reinterpret_cast<uint32_t*>(out + (r / 16) * kt * 512) + r % 16;
      for (int64_t p = 0; p < k_pad / 2; ++p) {
        uint32_t pair;
        std::memcpy(&pair, row.data() + 2 * p, sizeof pair);
        panel[(p / 16) * 256 + (p % 16) * 16] = pair;
      }
    }
    return;
  }
  // Transposed sources (attention's V: W[e, t] = V[t, e]): two source rows
  // (k and k+1) interleave into one tile row.
  for (int64_t c = 0; c < k; c += 2) {
    const float* src0 = w + c * col_stride;
    const float* src1 = c + 1 < k ? src0 + col_stride : nullptr;
    uint16_t* tile_row = out + (c / 32) * 512 + (c % 32 / 2) * 32;
    for (int64_t r = 0; r < n; ++r) {
      uint16_t* dst = tile_row + (r / 16) * kt * 512 + (r % 16) * 2;
      dst[0] = round_bf16(src0[r * row_stride]);
      dst[1] = src1 ? round_bf16(src1[r * row_stride]) : uint16_t{0};
    }
  }
}

float packed_at(const PackedBf16& w, int64_t row, int64_t col) {
  return widen(w.data[packed_index(w.k_pad, row, col)]);
}

void unpack_row(const PackedBf16& w, int64_t row, float* out) {
  for (int64_t col = 0; col < w.k; ++col) out[col] = packed_at(w, row, col);
}

void tile_order(const uint16_t* a, int64_t lda, int64_t m_pad, int64_t k_pad, uint16_t* out) {
  const int64_t kt = k_pad / 32;
  for (int64_t r = 0; r < m_pad; ++r) {
    uint16_t* dst = out + (r / 16) * kt * 512 + (r % 16) * 32;
    for (int64_t t = 0; t < kt; ++t) std::memcpy(dst + t * 512, a + r * lda + t * 32, 64);
  }
}

float softmax_bf16_tiles(Bf16Isa isa, const float* s, int64_t visible, int64_t k_pad, float scale, float* row_max,
                         uint16_t* out) {
  if (isa == Bf16Isa::amx) return softmax_bf16_tiles_avx512(s, visible, k_pad, scale, row_max, out);
  for (int64_t j = 0; j < visible; ++j) *row_max = std::max(*row_max, s[j] * scale);
  const float m = *row_max;
  float sum = 0.0f;
  for (int64_t j = 0; j < k_pad; ++j) {
    const float e = j < visible ? fast_exp(s[j] * scale - m) : 0.0f;
    sum += e;
    out[(j / 32) * 512 + j % 32] = round_bf16(e);
  }
  return sum;
}

void gemm_bf16_strided(Bf16Isa isa, const Bf16Rows& a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1,
                       float* c, int64_t ldc) {
  FARM_KERNEL_CHECK(m_pad % 32 == 0 && n0 % 16 == 0 && n1 <= w.n_pad, "bad bf16 GEMM block");
  if (m_pad == 0 || n0 >= n1) return;
  if (isa == Bf16Isa::amx) return gemm_bf16_strided_amx(a, m_pad, w, n0, n1, c, ldc);
  gemm_bf16_strided_portable(a, m_pad, w, n0, n1, c, ldc);
}

namespace {

// The group pointers and k offsets of an A whose groups and k blocks are
// evenly spaced (tile order, row-major).
struct RowMajor {
  std::vector<const uint16_t*> groups;
  std::vector<int64_t> koff;
  Bf16Rows rows(const uint16_t* a, int64_t m_pad, int64_t k_pad, int64_t group_stride, int64_t k_stride,
                int64_t row_bytes) {
    groups.resize(static_cast<size_t>(m_pad / 16));
    koff.resize(static_cast<size_t>(k_pad / 32));
    for (size_t g = 0; g < groups.size(); ++g) groups[g] = a + static_cast<int64_t>(g) * group_stride;
    for (size_t t = 0; t < koff.size(); ++t) koff[t] = static_cast<int64_t>(t) * k_stride;
    return {groups.data(), koff.data(), row_bytes};
  }
};

}  // namespace

void gemm_bf16_tiles(Bf16Isa isa, const uint16_t* a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1,
                     float* c, int64_t ldc) {
  thread_local RowMajor layout;
  const int64_t kt = w.k_pad / 32;
  gemm_bf16_strided(isa, layout.rows(a, m_pad, w.k_pad, kt * 512, 512, 64), m_pad, w, n0, n1, c, ldc);
}

int64_t bf16_block_cols(int64_t row_blocks, const PackedBf16& w) {
  if (row_blocks >= kMinItems) return w.n_pad;
  const int64_t want = std::clamp((kMinItems + row_blocks - 1) / row_blocks, int64_t{1},
                                  std::max(int64_t{1}, w.n_pad / kMinBlockCols));
  return pad_to((w.n_pad + want - 1) / want, 32);
}

void bf16_epilogue(const float* c, int64_t ldc, int64_t rows, int64_t n0, int64_t nc, const float* bias,
                   const float* residual, float* y, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* cr = c + r * ldc;
    float* yr = y + r * n + n0;
    const float* rr = residual ? residual + r * n + n0 : nullptr;
    for (int64_t j = 0; j < nc; ++j) {
      float v = cr[j];
      if (bias) v += bias[n0 + j];
      if (rr) v += rr[j];
      yr[j] = v;
    }
  }
}

void gemm_bf16_rows(Bf16Isa isa, const uint16_t* a, int64_t lda, int64_t m_pad, const PackedBf16& w, int64_t n0,
                    int64_t n1, float* c, int64_t ldc) {
  FARM_KERNEL_CHECK(lda >= w.k_pad, "bf16 GEMM rows shorter than K");
  thread_local std::vector<uint16_t> tiles;
  if (static_cast<int64_t>(tiles.size()) < m_pad * w.k_pad) tiles.resize(static_cast<size_t>(m_pad * w.k_pad));
  tile_order(a, lda, m_pad, w.k_pad, tiles.data());
  gemm_bf16_tiles(isa, tiles.data(), m_pad, w, n0, n1, c, ldc);
}

void parallel_gemm_bf16(int64_t m, const Bf16RowSource& rows, const PackedBf16& w, const float* bias,
                        const float* residual, float* y) {
  const int64_t n = w.n;
  if (m == 0 || n == 0) return;
  const int64_t row_blocks = (m + kBlockRows - 1) / kBlockRows;
  const int64_t block_cols = bf16_block_cols(row_blocks, w);
  const int64_t col_blocks = (w.n_pad + block_cols - 1) / block_cols;
  const int64_t items = row_blocks * col_blocks;
  const Bf16Isa isa = bf16_isa();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(w.k);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t m0 = (item / col_blocks) * kBlockRows, n0 = (item % col_blocks) * block_cols;
    const int64_t mr = std::min(kBlockRows, m - m0), m_pad = pad_to(mr, 32);
    const int64_t n1 = std::min(n0 + block_cols, w.n_pad), nc = std::min(n1, n) - n0;
    // A row-major, rows written in place: the AMX tile loads take its stride.
    uint16_t* a = bf16_scratch(m_pad * w.k_pad);
    for (int64_t r = 0; r < mr; ++r) rows(m0 + r, a + r * w.k_pad);
    if (mr < m_pad) std::fill(a + mr * w.k_pad, a + m_pad * w.k_pad, uint16_t{0});
    thread_local RowMajor layout;
    const Bf16Rows ar = layout.rows(a, m_pad, w.k_pad, 16 * w.k_pad, 32, 2 * w.k_pad);
    float* c = scratch(2, m_pad * (n1 - n0));
    gemm_bf16_strided(isa, ar, m_pad, w, n0, n1, c, n1 - n0);
    bf16_epilogue(c, n1 - n0, mr, n0, nc, bias, residual ? residual + m0 * n : nullptr, y + m0 * n, n);
  }
}

void parallel_gemm_geglu_bf16(int64_t m, const Bf16RowSource& rows, const PackedBf16& w, const float* bias,
                              float* y) {
  const int64_t inner = w.n / 2;
  FARM_KERNEL_CHECK(w.n % 2 == 0 && inner % 16 == 0, "GEGLU projection rows not 2 * a multiple of 16");
  if (m == 0 || inner == 0) return;
  constexpr int64_t kGegluCols = 256;  // columns of each half per item
  const int64_t row_blocks = (m + kBlockRows - 1) / kBlockRows, col_blocks = (inner + kGegluCols - 1) / kGegluCols;
  const int64_t items = row_blocks * col_blocks;
  const Bf16Isa isa = bf16_isa();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(w.n) * static_cast<double>(w.k);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && worth_parallel(flops))
  for (int64_t item = 0; item < items; ++item) {
    const int64_t m0 = (item / col_blocks) * kBlockRows, c0 = (item % col_blocks) * kGegluCols;
    const int64_t mr = std::min(kBlockRows, m - m0), m_pad = pad_to(mr, 32), nc = std::min(kGegluCols, inner - c0);
    uint16_t* a = bf16_scratch(m_pad * w.k_pad);
    for (int64_t r = 0; r < mr; ++r) rows(m0 + r, a + r * w.k_pad);
    if (mr < m_pad) std::fill(a + mr * w.k_pad, a + m_pad * w.k_pad, uint16_t{0});
    thread_local RowMajor layout;
    const Bf16Rows ar = layout.rows(a, m_pad, w.k_pad, 16 * w.k_pad, 32, 2 * w.k_pad);
    // [hidden block | gate block] side by side, 2·nc columns per row.
    const int64_t ldc = 2 * nc;
    float* c = scratch(2, m_pad * ldc);
    gemm_bf16_strided(isa, ar, m_pad, w, c0, c0 + nc, c, ldc);
    gemm_bf16_strided(isa, ar, m_pad, w, inner + c0, inner + c0 + nc, c + nc, ldc);
    for (int64_t r = 0; r < mr; ++r) {
      float* cr = c + r * ldc;
      if (bias)
        for (int64_t j = 0; j < nc; ++j) cr[j] += bias[c0 + j], cr[nc + j] += bias[inner + c0 + j];
      geglu_span(nc, cr, cr + nc, y + (m0 + r) * inner + c0);
    }
  }
}

}  // namespace farm::kernels::cpu
