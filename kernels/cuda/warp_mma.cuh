// Tensor-core fragments by hand (sm_80): ldmatrix and mma.sync m16n8k16 with
// fp16/bf16 inputs and fp32 accumulators, for kernels that build with nvcc
// (inline PTX) and with the SIMT emulator (kernels/emu/warp_matrix.h, which
// holds the same per-lane layouts, so code that depends on them is tested).
//
//   ldmatrix<N>(regs, row)        ldmatrix.sync.aligned.m8n8.xN.shared.b16
//   ldmatrix_trans<N>(regs, row)  ... .trans
//       lane 8j + r passes the address of row r of 8x8 matrix j (16 bytes,
//       16-byte aligned); lane l gets regs[j] = row l/4, columns 2(l%4) and
//       2(l%4)+1 of matrix j (of its transpose with .trans), low half first.
//   mma_m16n8k16<T>(acc, a, b)    mma.sync.aligned.m16n8k16.row.col.f32.T.T.f32
//       acc += A B with g = lane/4, t = lane%4:
//       a[0] = A[g][2t..2t+1],   a[1] = A[g+8][2t..],  a[2] = A[g][2t+8..],  a[3] = A[g+8][2t+8..]
//       b[0] = B[2t..2t+1][g],   b[1] = B[2t+8..2t+9][g]
//       acc  = C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]
//   pack2<T>(lo, hi)              two floats -> one register of two T (rn)
//
// All 32 lanes of the warp must execute each call (warp collectives).
// Include after kernels/emu/cuda_compat.h.
#pragma once

#include <stdint.h>

#include <type_traits>

namespace farm::kernels::cuda_device {

template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint16_t l, h;
  if constexpr (std::is_same<T, __half>::value) {
    l = static_cast<__half_raw>(__float2half_rn(lo)).x;
    h = static_cast<__half_raw>(__float2half_rn(hi)).x;
  } else {
    l = static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(lo)).x;
    h = static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(hi)).x;
  }
  return static_cast<uint32_t>(l) | (static_cast<uint32_t>(h) << 16);
}

// The value a packed 16-bit half of a register holds, as float.
template <class T>
__device__ __forceinline__ float unpack(uint32_t reg, int high) {
  const uint16_t bits = static_cast<uint16_t>(high ? reg >> 16 : reg & 0xffffu);
  if constexpr (std::is_same<T, __half>::value) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
  } else {
    __nv_bfloat16_raw r;
    r.x = bits;
    return __bfloat162float(__nv_bfloat16(r));
  }
}

#if defined(__CUDACC__)

template <int N>
__device__ __forceinline__ void ldmatrix(uint32_t (&r)[N], const void* row) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

template <int N>
__device__ __forceinline__ void ldmatrix_trans(uint32_t (&r)[N], const void* row) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

template <class T>
__device__ __forceinline__ void mma_m16n8k16(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (std::is_same<T, __half>::value)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#else  // the SIMT emulator

template <int N>
inline void ldmatrix(uint32_t (&r)[N], const void* row,
                     const std::source_location& loc = std::source_location::current()) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  ::farm::emu::ldmatrix(N, false, row, r, loc);
}

template <int N>
inline void ldmatrix_trans(uint32_t (&r)[N], const void* row,
                           const std::source_location& loc = std::source_location::current()) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  ::farm::emu::ldmatrix(N, true, row, r, loc);
}

template <class T>
inline void mma_m16n8k16(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                         const std::source_location& loc = std::source_location::current()) {
  static_assert(std::is_same<T, __half>::value || std::is_same<T, __nv_bfloat16>::value, "f16 or bf16 inputs");
  ::farm::emu::mma_m16n8k16(std::is_same<T, __half>::value ? ::farm::emu::MmaInput::f16 : ::farm::emu::MmaInput::bf16,
                            acc, a, b, acc, loc);
}

#endif

}  // namespace farm::kernels::cuda_device
