// ldmatrix and mma.sync (sm_80) as warp collectives with the PTX ISA's
// per-lane fragment layouts (unlike wmma.h, where every lane holds the whole
// tile): a kernel that assumes which element a lane holds runs here exactly
// as on the GPU. Kernels reach these through kernels/cuda/warp_mma.cuh.
//
//   ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16
//     lane 8j+r gives the address of row r of matrix j (16 bytes, 16-byte
//     aligned); lane l receives, per matrix j, register j = the two b16 of
//     row l/4, columns 2(l%4), 2(l%4)+1 (low half first); with .trans the
//     matrix is transposed: rows 2(l%4), 2(l%4)+1 of column l/4.
//   mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
//     g = lane/4, t = lane%4.
//     A (16x16, 4 regs, a0..a7): row g for a0,a1,a4,a5, g+8 otherwise;
//       column 2t + (i&1), +8 for i >= 4.
//     B (16x8, 2 regs, b0..b3): row 2t + (i&1), +8 for i >= 2; column g.
//     C/D (16x8 fp32, c0..c3): row g for c0,c1, g+8 for c2,c3; column 2t + (i&1).
//
// All 32 lanes must arrive at the same call site with the same variant;
// anything else aborts with a report (exited lanes, divergent call sites,
// misaligned row addresses). The product is computed in fp32 with a
// sequential sum over k (tensor cores sum in their own order; compare with
// tolerances). Each ldmatrix also counts its shared-memory wavefronts: per
// 8x8 matrix (one 128-byte phase on the GPU), the largest number of distinct
// 4-byte words any of the 32 banks serves (1 = conflict free).
#pragma once

#include <cstdint>
#include <source_location>

namespace farm::emu {

void ldmatrix(int num, bool trans, const void* row_addr, uint32_t* regs,
              const std::source_location& loc = std::source_location::current());

enum class MmaInput : uint8_t { f16, bf16 };
// d = a * b + c (d may alias c).
void mma_m16n8k16(MmaInput type, float* d, const uint32_t* a, const uint32_t* b, const float* c,
                  const std::source_location& loc = std::source_location::current());

// Process-wide, counted as ldmatrix runs; read deltas around a launch.
struct WarpMatrixCounters {
  int64_t ldmatrix_instructions = 0;  // per warp
  int64_t ldmatrix_matrices = 0;      // 8x8 matrices loaded
  int64_t ldmatrix_wavefronts = 0;    // = matrices when conflict free
  int64_t mma_instructions = 0;       // per warp
};
WarpMatrixCounters warp_matrix_counters();

}  // namespace farm::emu
