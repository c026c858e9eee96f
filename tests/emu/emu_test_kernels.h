// Host launchers of the emulator's test kernels (tests/emu/*.cu). Pointers
// are device pointers (cudaMalloc); every launcher returns after its kernel
// was launched (synchronous under the emulator).
#pragma once

#include <cstdint>

namespace farm::emu_test {

// C[m,n] = A[m,k] B[k,n], row-major fp32, 16x16 shared-memory tiles.
// broken: the variant missing the barrier after the tile product.
void sgemm_tiled(const float* a, const float* b, float* c, int m, int n, int k, bool broken);

// Row softmax of x[rows, cols] with warp shuffles and a cross-warp reduction
// in dynamic shared memory; `threads` per row (a multiple of 32).
void softmax_rows(const float* x, float* y, int rows, int cols, int threads);

// C[m,n] (fp32) = A[m,k] B[k,n] with wmma m16n16k16; A row-major, B row-major
// or col-major ([n,k]); inputs half or bf16 stored as uint16_t bits.
void wmma_gemm_f16(const uint16_t* a, const uint16_t* b, float* c, int m, int n, int k, bool b_col_major);
void wmma_gemm_bf16(const uint16_t* a, const uint16_t* b, float* c, int m, int n, int k, bool b_col_major);

// Atomics: out[0] int histogram-style counter, etc. (see atomics.cu).
struct AtomicResults {
  int count = 0;
  unsigned max_seen = 0;
  float float_sum = 0;
  float half_sum = 0;
  float bf16_sum = 0;
  float cas_max = 0;
  unsigned long long ull_sum = 0;
  unsigned inc_wrapped = 0;
};
AtomicResults run_atomics(int blocks, int threads);

// Each thread takes a ticket from a shared counter: the order threads ran in.
void ticket_order(int* tickets, int threads);

// Warp collectives: per lane outputs for a 64-thread block (see warp_ops.cu).
void warp_ops(int* out, int width);

// fp16/bf16 intrinsics evaluated in a kernel: out[i] = f_i(in[i]).
void half_intrinsics(const float* in, float* out, int n);

// cp.async (tests/emu/async_copy.cu). `in`/`out` are int device buffers.
// copy_through_smem: out = in (n ints, n % 256 == 0) in piece_bytes copies;
// wait = false drops the wait_group (the bug: out is stale shared memory).
void async_copy_through_smem(const int* in, int* out, int n, int piece_bytes, bool wait);
// out[0..n) = in[0..valid) then zeros, through 16-byte zero-filling copies.
void async_copy_zfill(const int* in, int valid, int* out, int n);
// out[0..18): shared memory after wait_group 1, after wait_group 0 (with a store
// racing an in-flight copy), after wait_all; see groups_kernel.
void async_copy_groups(const int* in, int* out);
// Per thread (2 blocks x 64): a double-buffered sum over `tiles` 256-int tiles.
void async_copy_pipelined_sum(const int* in, int tiles, int* out, bool early_reuse);

// ldmatrix / mma.sync m16n8k16 (tests/emu/warp_matrix.cu), one warp unless said.
// ldmatrix_layout: src = 32 rows of 8 b16 (row r of matrix j in slot
// (8j+r)*5%32); out[lane * num + j] = the lane's register j.
void ldmatrix_layout(const uint16_t* src, uint32_t* out, int num, bool trans);
// Lane l passes a[4l..], b[2l..], c[4l..] as its fragments; d[4l..] = result.
void mma_registers(const uint32_t* a, const uint32_t* b, const float* c, float* d, bool bf16);
// c[32,32] = a[32,k] b, b as [32,k] (b_nk) or [k,32], 16-bit bits; shared rows
// padded by `pad` elements.
void mma_gemm(const uint16_t* a, const uint16_t* b, float* c, int k, bool b_nk, int pad, bool bf16);

// Deliberately wrong kernels; each aborts in the emulator with a report.
void divergent_barrier();
void warp_deadlock();
void spin_wait_forever();
void stack_overflow();
void shuffle_with_exited_lane();
void dynamic_smem_overrun();
void wmma_misaligned();
void async_copy_misaligned();  // tests/emu/async_copy.cu
void ldmatrix_exited_lanes();  // tests/emu/warp_matrix.cu
void ldmatrix_misaligned();
void mma_divergent();

// A launch with `smem` bytes of dynamic shared memory; returns the
// cudaError_t of cudaGetLastError() after it (as int).
int launch_with_smem(int smem, bool opt_in);
int launch_with_block(int threads);

}  // namespace farm::emu_test
