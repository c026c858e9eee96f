#include "kernels/emu/cuda_headers.h"
#include "kernels/emu/warp_matrix.h"

#include <atomic>
#include <cstring>

#include "kernels/emu/diagnostics.h"
#include "kernels/emu/sync.h"

namespace farm::emu {

namespace {

std::atomic<int64_t> g_ld_instr{0}, g_ld_matrices{0}, g_ld_wavefronts{0}, g_mma_instr{0};

struct LdmatrixArgs {
  const void* addr;
  uint32_t* regs;
  int num;
  bool trans;
};

struct MmaArgs {
  float* d;
  const uint32_t* a;
  const uint32_t* b;
  const float* c;
  MmaInput type;
};

bool same_site(const Site& a, const Site& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

// `.aligned`: every lane must execute the same instruction.
void check_converged(const char* what, ThreadState* const* lanes) {
  for (unsigned l = 1; l < kWarpSize; ++l)
    if (!same_site(lanes[l]->site, lanes[0]->site))
      fatal(cat("farm-emu: ", what, ": lanes of one warp at different call sites (", describe(lanes[0]->site),
                " and ", describe(lanes[l]->site), "; .sync.aligned needs all 32 lanes at the same instruction), in ",
                describe(*lanes[0]->block), ", ", describe(*lanes[l])));
}

const LdmatrixArgs& ld_args(const ThreadState* t) { return *static_cast<const LdmatrixArgs*>(t->op.payload); }
const MmaArgs& mma_args(const ThreadState* t) { return *static_cast<const MmaArgs*>(t->op.payload); }

// Bank model of one 128-byte phase: 8 rows of 16 bytes.
int64_t wavefronts(const uintptr_t* rows) {
  uintptr_t words[32];
  int n = 0;
  for (int r = 0; r < 8; ++r)
    for (uintptr_t w = rows[r] / 4; w < rows[r] / 4 + 4; ++w) {
      bool seen = false;
      for (int i = 0; i < n && !seen; ++i) seen = words[i] == w;
      if (!seen) words[n++] = w;
    }
  int per_bank[32] = {};
  int worst = 0;
  for (int i = 0; i < n; ++i) worst = std::max(worst, ++per_bank[words[i] % 32]);
  return worst;
}

void ldmatrix_complete(ThreadState* const* lanes, unsigned /*mask*/) {
  check_converged("ldmatrix", lanes);
  const LdmatrixArgs& first = ld_args(lanes[0]);
  for (unsigned l = 1; l < kWarpSize; ++l) {
    const LdmatrixArgs& a = ld_args(lanes[l]);
    if (a.num != first.num || a.trans != first.trans)
      fatal(cat("farm-emu: ldmatrix at ", describe(lanes[0]->site), ": lanes disagree on .x", first.num,
                first.trans ? ".trans" : "", " vs .x", a.num, a.trans ? ".trans" : "", " (", describe(*lanes[l]),
                "), in ", describe(*lanes[0]->block)));
  }
  uint16_t m[4][8][8];
  int64_t waves = 0;
  for (int j = 0; j < first.num; ++j) {
    uintptr_t rows[8];
    for (int r = 0; r < 8; ++r) {
      const ThreadState* t = lanes[j * 8 + r];
      const auto p = reinterpret_cast<uintptr_t>(ld_args(t).addr);
      if (p % 16)
        fatal(cat("farm-emu: ldmatrix at ", describe(t->site), ": row address 0x", std::hex, p, std::dec,
                  " of ", describe(*t), " (row ", r, " of matrix ", j,
                  ") is not 16-byte aligned (required on the GPU), in ", describe(*t->block)));
      rows[r] = p;
      std::memcpy(m[j][r], ld_args(t).addr, 16);
    }
    waves += wavefronts(rows);
  }
  for (unsigned l = 0; l < kWarpSize; ++l) {
    const int g = static_cast<int>(l) / 4, t2 = static_cast<int>(l) % 4 * 2;
    for (int j = 0; j < first.num; ++j) {
      const uint16_t lo = first.trans ? m[j][t2][g] : m[j][g][t2];
      const uint16_t hi = first.trans ? m[j][t2 + 1][g] : m[j][g][t2 + 1];
      ld_args(lanes[l]).regs[j] = uint32_t{lo} | uint32_t{hi} << 16;
    }
  }
  g_ld_instr.fetch_add(1, std::memory_order_relaxed);
  g_ld_matrices.fetch_add(first.num, std::memory_order_relaxed);
  g_ld_wavefronts.fetch_add(waves, std::memory_order_relaxed);
}

float decode(uint32_t reg, int half, MmaInput type) {
  const auto bits = static_cast<uint16_t>(reg >> (16 * half));
  return type == MmaInput::f16 ? float16::decode_half(bits) : float16::decode_bfloat16(bits);
}

void mma_complete(ThreadState* const* lanes, unsigned /*mask*/) {
  check_converged("mma.sync", lanes);
  const MmaInput type = mma_args(lanes[0]).type;
  float a[16][16], b[16][8], c[16][8];
  for (unsigned l = 0; l < kWarpSize; ++l) {
    const MmaArgs& x = mma_args(lanes[l]);
    if (x.type != type)
      fatal(cat("farm-emu: mma.sync at ", describe(lanes[0]->site), ": lanes disagree on the input type, in ",
                describe(*lanes[0]->block)));
    const int g = static_cast<int>(l) / 4, t = static_cast<int>(l) % 4;
    for (int i = 0; i < 8; ++i) {
      const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
      const int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
      a[row][col] = decode(x.a[i / 2], i % 2, type);
    }
    for (int i = 0; i < 4; ++i) b[t * 2 + (i & 1) + (i >= 2 ? 8 : 0)][g] = decode(x.b[i / 2], i % 2, type);
    for (int i = 0; i < 4; ++i) c[i < 2 ? g : g + 8][t * 2 + (i & 1)] = x.c[i];
  }
  for (unsigned l = 0; l < kWarpSize; ++l) {
    const int g = static_cast<int>(l) / 4, t = static_cast<int>(l) % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
      float s = c[row][col];
      for (int k = 0; k < 16; ++k) s += a[row][k] * b[k][col];
      mma_args(lanes[l]).d[i] = s;  // after every lane's c was read: d may alias c
    }
  }
  g_mma_instr.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void ldmatrix(int num, bool trans, const void* row_addr, uint32_t* regs, const std::source_location& loc) {
  if (num != 1 && num != 2 && num != 4) fatal(cat("farm-emu: ldmatrix .x", num, " (only .x1, .x2, .x4 exist)"));
  LdmatrixArgs args{row_addr, regs, num, trans};
  LaneOp op;
  op.kind = WarpOpKind::custom;
  op.name = "ldmatrix";
  op.mask = 0xffffffffu;
  op.custom = &ldmatrix_complete;
  op.payload = &args;
  warp_collective(op, loc);
}

void mma_m16n8k16(MmaInput type, float* d, const uint32_t* a, const uint32_t* b, const float* c,
                  const std::source_location& loc) {
  MmaArgs args{d, a, b, c, type};
  LaneOp op;
  op.kind = WarpOpKind::custom;
  op.name = "mma.sync.m16n8k16";
  op.mask = 0xffffffffu;
  op.custom = &mma_complete;
  op.payload = &args;
  warp_collective(op, loc);
}

WarpMatrixCounters warp_matrix_counters() {
  WarpMatrixCounters c;
  c.ldmatrix_instructions = g_ld_instr.load();
  c.ldmatrix_matrices = g_ld_matrices.load();
  c.ldmatrix_wavefronts = g_ld_wavefronts.load();
  c.mma_instructions = g_mma_instr.load();
  return c;
}

}  // namespace farm::emu
