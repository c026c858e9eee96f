// Row-major wrappers over OpenBLAS cblas_sgemm, the block-parallel GEMM the
// cpu ops share, and their scratch buffers.
//
// Threading: all parallelism in kernels_cpu is OpenMP. OpenBLAS runs each
// call single-threaded (use_single_threaded_blas) on whichever OpenMP thread
// issued it, so the two thread pools never compete for the cores or hand work
// back and forth, and no sgemm result depends on the thread count: OpenBLAS's own
// threading changed bits between 1 and 2 threads with its fallback (Prescott)
// kernels. Blocks are chosen from the per-sample shape alone, so results are
// also batch invariant.
#pragma once

#include <cstdint>
#include <functional>

namespace farm::kernels::cpu {

// C[M,N] = alpha · A[M,K] · B[N,K]^T + beta · C   (B stored row-major as [N,K])
void sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// C[M,N] = alpha · A[M,K] · B[K,N] + beta · C
void sgemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Makes OpenBLAS run each call on the calling thread, for good: kernels_cpu
// owns the threading. Never restored, so concurrent callers cannot flip it
// back under each other's OpenMP regions.
void use_single_threaded_blas();

// Called after the block C[m0 : m0+rows, n0 : n0+cols] is computed, on the
// thread that computed it (for a fused bias/residual epilogue).
using BlockEpilogue = std::function<void(int64_t m0, int64_t rows, int64_t n0, int64_t cols)>;

// C[M,N] = A[M,K] · B[N,K]^T in blocks of up to 256 rows (and, when there are
// few row blocks, column blocks) spread over the OpenMP threads. Must not be
// called from inside an OpenMP parallel region.
void parallel_sgemm_nt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                       int64_t ldb, float* c, int64_t ldc, const BlockEpilogue& epilogue);

// Whether an op of this many flops should open an OpenMP parallel region.
bool worth_parallel(double flops);

// y = c + bias[col] (+ residual), in that order (as ref sums them), over one
// block of `rows` × `cols` whose matrices share the leading dimension ld.
// bias points at the block's first column; c may equal y, and so may
// residual.
void add_bias_residual(int64_t rows, int64_t cols, int64_t ld, const float* c, const float* bias,
                       const float* residual, float* y);

// A per-thread buffer of at least n floats, 64-byte aligned, reused across
// calls; `slot` (0 to 5) tells apart buffers one op needs at the same time.
float* scratch(int slot, int64_t n);
// The same for any element type: slots 6 and 7 are the bf16 kernels'.
void* aligned_scratch(int slot, int64_t bytes);

}  // namespace farm::kernels::cpu
