// The bf16 GEMM of the cpu backend's bf16 mode: weights rounded to bf16 once
// and packed in the tile order Intel AMX reads, activations rounded to bf16
// as they are gathered, products summed in fp32.
//
// Arithmetic: every product of two bf16 values is exact in fp32 and C sums
// them in fp32, in an order fixed by the kernel and K alone (AMX's own inside
// TDPBF16PS; k order in the portable loop). So an element's bits depend only
// on its row of A, its row of W and the kernel — never on the blocking, the
// thread count or the batch (invariant 1). The two kernels differ in the
// last bits from each other.
//
// Packed layout of W[N, K]: tiles of 16 rows of W × 32 k, tile (nb, kb) at
// ((nb · k_pad/32) + kb) · 512 elements; inside a tile, element (n, k) sits
// at (k/2 % 16) · 32 + (n % 16) · 2 + k % 2 (AMX's "VNNI" B operand: each
// 64-byte row holds 16 columns × a pair of k). N pads to 16, K to 32, zeros.
#pragma once

#include <cstdint>
#include <functional>

namespace farm::kernels::cpu {

enum class Bf16Isa : uint8_t { amx, portable };
const char* bf16_isa_name(Bf16Isa isa);

// Whether this CPU and OS run AMX bf16 tiles (asks the kernel for the tile
// state once). Thread-safe.
bool amx_available();
// The kernel the bf16 GEMMs use: AMX when available, unless the environment
// says FARM_CPU_BF16=portable (tests, and a check on machines with AMX of
// what a machine without it computes).
Bf16Isa bf16_isa();

struct PackedBf16 {
  int64_t n = 0, k = 0;          // W's logical shape [n, k]
  int64_t n_pad = 0, k_pad = 0;  // multiples of 16 and 32
  const uint16_t* data = nullptr;
};

inline int64_t pad_to(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
inline int64_t packed_elements(int64_t n, int64_t k) { return pad_to(n, 16) * pad_to(k, 32); }
// Rounds W[r, c] = w[r · row_stride + c · col_stride] (r < n, c < k) to
// bf16, nearest even, into `out` (packed_elements(n, k) elements). A
// column stride other than 1 packs a transposed matrix (attention's V).
void pack_bf16(const float* w, int64_t n, int64_t k, int64_t row_stride, int64_t col_stride, uint16_t* out);
// W[row, col] from its packed form (for gathers such as token embeddings).
float packed_at(const PackedBf16& w, int64_t row, int64_t col);
// One row of W into out[0, k).
void unpack_row(const PackedBf16& w, int64_t row, float* out);

// fp32 -> bf16 (nearest even; NaN stays NaN), n values.
void to_bf16(const float* x, int64_t n, uint16_t* out);

// A in tile order: rows of m_pad (a multiple of 32) × k_pad in 16 × 32
// tiles, tile (row block i, k block t) at (i · k_pad/32 + t) · 512 elements,
// row-major inside — each tile AMX loads is one contiguous kilobyte.
void tile_order(const uint16_t* a, int64_t lda, int64_t m_pad, int64_t k_pad, uint16_t* out);
inline int64_t tile_index(int64_t k_pad, int64_t row, int64_t col) {
  return ((row / 16) * (k_pad / 32) + col / 32) * 512 + (row % 16) * 32 + col % 32;
}

// A read in place: rows in groups of 16, group g's k block t (32 k) at
// groups[g] + koff[t] elements, its 16 rows row_bytes apart (AMX loads a
// tile with a stride). Tile order is groups[g] = a + g·kt·512, koff[t] =
// t·512, 64 bytes; a row-major matrix a + 16·g·lda, t·32, 2·lda; a
// stride-1 convolution its (padded, bf16) input: 16 output pixels of a row
// are 16 input pixels ci apart, and k block t is a tap's offset plus a run
// of 32 channels — no im2col.
struct Bf16Rows {
  const uint16_t* const* groups = nullptr;  // m_pad / 16
  const int64_t* koff = nullptr;            // k_pad / 32
  int64_t row_bytes = 0;
};

// C[m, n0 : n1) = A[m, :] · W[n0 : n1, :]^T for m in [0, m_pad) (a multiple
// of 32), one thread; C as gemm_bf16_rows writes it. The sums run over k
// blocks in order whatever the layout, so the layouts give the same bits.
void gemm_bf16_strided(Bf16Isa isa, const Bf16Rows& a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1,
                       float* c, int64_t ldc);

// Columns per work item of a GEMM with `row_blocks` blocks of rows: all of
// W, unless there are too few row blocks to keep the threads busy.
int64_t bf16_block_cols(int64_t row_blocks, const PackedBf16& w);

// y[m, n0 : n0 + nc) = c[m, :] (+ bias) (+ residual) for m in [0, rows):
// the GEMM's fp32 block into the output, row stride n for y and residual.
void bf16_epilogue(const float* c, int64_t ldc, int64_t rows, int64_t n0, int64_t nc, const float* bias,
                   const float* residual, float* y, int64_t n);

// As gemm_bf16_rows with A already in tile order (k_pad = w.k_pad).
void gemm_bf16_tiles(Bf16Isa isa, const uint16_t* a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1,
                     float* c, int64_t ldc);

// C[m, n0 : n1) = A[m, :] · W[n0 : n1, :]^T for m in [0, m_pad), one thread.
// A: bf16 rows of k_pad elements (row stride lda ≥ w.k_pad, k-padding zero);
// m_pad a multiple of 32, n0 a multiple of 16 and n1 ≤ w.n_pad. C[m, col]
// is written, in fp32, at c[m · ldc + col - n0] for all m_pad rows and
// n0 ≤ col < n1 rounded up to 16. `isa` picks the kernel.
void gemm_bf16_rows(Bf16Isa isa, const uint16_t* a, int64_t lda, int64_t m_pad, const PackedBf16& w,
                    int64_t n0, int64_t n1, float* c, int64_t ldc);

// One row of attention's P for the PV GEMM, over one block of keys:
// *row_max becomes max(*row_max, scale·s[j] for j < visible), then p[j] =
// exp(scale·s[j] − *row_max) for j < visible, 0 for visible ≤ j < k_pad,
// rounded to bf16 and written in 32-element runs, run t at out + t · 512
// (row r of a tile-ordered A starts at tile_index(k_pad, r, 0)). Returns
// Σ p[j] in fp32, before rounding. One pass over s for the max and one for
// the rest, with the row in L1 (a softmax pass, a rounding pass and a
// scatter pass each streamed S through L2: 40 % of attention's time).
float softmax_bf16_tiles(Bf16Isa isa, const float* s, int64_t visible, int64_t k_pad, float scale, float* row_max,
                         uint16_t* out);

// Writes row m of A as bf16 into row[0, k_pad) (zeros past K), in place in
// the row-major block the AMX tiles load from.
using Bf16RowSource = std::function<void(int64_t m, uint16_t* row)>;

// y[m, :] = A[m, :] · W^T + bias (+ residual[m, :]) for m in [0, M), over the
// OpenMP threads in blocks chosen from (M, N, K) alone. y and residual have
// row stride N; residual may equal y; bias may be null.
void parallel_gemm_bf16(int64_t m, const Bf16RowSource& rows, const PackedBf16& w, const float* bias,
                        const float* residual, float* y);

// GEGLU's projection without its [m, 2·inner] output: W is [2·inner, K]
// (hidden rows, then gate rows), and y[m, j] = h · gelu(g) with
// h = A[m]·W[j] + bias[j], g = A[m]·W[inner + j] + bias[inner + j], for
// j < inner. Each work item computes a block of columns of both halves. The
// bits of parallel_gemm_bf16 into [m, 2·inner] followed by the geglu op.
// inner must be a multiple of 16.
void parallel_gemm_geglu_bf16(int64_t m, const Bf16RowSource& rows, const PackedBf16& w, const float* bias, float* y);

}  // namespace farm::kernels::cpu
