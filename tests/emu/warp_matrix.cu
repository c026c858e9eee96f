// ldmatrix and mma.sync m16n8k16 through kernels/cuda/warp_mma.cuh: per-lane
// fragment dumps (checked against the PTX ISA's tables on the host), a GEMM
// built from them, and misuse the emulator must report.
#include "kernels/emu/cuda_compat.h"
#include "kernels/cuda/warp_mma.cuh"
#include "tests/emu/emu_test_kernels.h"

namespace {

using namespace farm::kernels::cuda_device;

// src: 32 rows of 8 b16 in storage order; row r of matrix j sits in slot
// (8j + r) * 5 % 32, so each lane must pass its own row's address.
template <int N, bool kTrans>
__global__ void ldmatrix_layout_kernel(const uint16_t* src, uint32_t* out) {
  __shared__ __align__(16) uint16_t s[32 * 8];
  const int lane = threadIdx.x;
  for (int i = lane; i < 32 * 8; i += 32) s[i] = src[i];
  __syncwarp();
  uint32_t r[N];
  const uint16_t* row = s + (lane * 5 % 32) * 8;
  if (kTrans)
    ldmatrix_trans<N>(r, row);
  else
    ldmatrix<N>(r, row);
  for (int j = 0; j < N; ++j) out[lane * N + j] = r[j];
}

// Lane l brings a[4l..4l+3], b[2l..2l+1], c[4l..4l+3]; d[4l..] = its result.
template <class T>
__global__ void mma_registers_kernel(const uint32_t* a, const uint32_t* b, const float* c, float* d) {
  const int l = threadIdx.x;
  const uint32_t fa[4] = {a[4 * l], a[4 * l + 1], a[4 * l + 2], a[4 * l + 3]};
  const uint32_t fb[2] = {b[2 * l], b[2 * l + 1]};
  float acc[4] = {c[4 * l], c[4 * l + 1], c[4 * l + 2], c[4 * l + 3]};
  mma_m16n8k16<T>(acc, fa, fb);
  for (int i = 0; i < 4; ++i) d[4 * l + i] = acc[i];
}

// C[32,32] = A[32,K] B with 4 warps, each a 16x16 tile (two m16n8k16 per k
// step). A row-major; B as [N,K] (ldmatrix) or [K,N] (ldmatrix.trans). Rows
// in shared memory `pad` elements longer than they need (0: bank conflicts).
template <class T>
__global__ void mma_gemm_kernel(const T* a, const T* b, float* c, int k, bool b_nk, int pad) {
  constexpr int kM = 32, kN = 32;
  FARM_DYNAMIC_SHARED(T, s);
  const int lda = k + pad, ldb = b_nk ? k + pad : kN + pad;
  T* as = s;
  T* bs = s + kM * lda;
  for (int i = threadIdx.x; i < kM * k; i += blockDim.x) as[i / k * lda + i % k] = a[i];
  const int b_rows = b_nk ? kN : k, b_cols = b_nk ? k : kN;
  for (int i = threadIdx.x; i < b_rows * b_cols; i += blockDim.x) bs[i / b_cols * ldb + i % b_cols] = b[i];
  __syncthreads();
  const int warp = threadIdx.x / 32, l = threadIdx.x % 32;
  const int m0 = warp / 2 * 16, n0 = warp % 2 * 16;
  float acc[2][4] = {};
  for (int kk = 0; kk < k; kk += 16) {
    uint32_t fa[4], fb[4];
    // A: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
    ldmatrix<4>(fa, as + (m0 + l % 8 + (l / 8 % 2) * 8) * lda + kk + (l / 16) * 8);
    if (b_nk)  // matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
      ldmatrix<4>(fb, bs + (n0 + (l / 16) * 8 + l % 8) * ldb + kk + (l / 8 % 2) * 8);
    else  // [k][n] rows transposed: (k 0-7, n 0-7), (k 8-15, n 0-7), (k 0-7, n 8-15), (k 8-15, n 8-15)
      ldmatrix_trans<4>(fb, bs + (kk + (l / 8 % 2) * 8 + l % 8) * ldb + n0 + (l / 16) * 8);
    const uint32_t b0[2] = {fb[0], fb[1]}, b1[2] = {fb[2], fb[3]};
    mma_m16n8k16<T>(acc[0], fa, b0);
    mma_m16n8k16<T>(acc[1], fa, b1);
  }
  const int g = l / 4, t = l % 4;
  for (int nj = 0; nj < 2; ++nj)
    for (int i = 0; i < 4; ++i) c[(m0 + g + (i / 2) * 8) * kN + n0 + nj * 8 + 2 * t + i % 2] = acc[nj][i];
}

__global__ void ldmatrix_exited_lanes_kernel(uint32_t* out) {
  __shared__ __align__(16) uint16_t s[32 * 8];
  if (threadIdx.x >= 16) return;
  uint32_t r[1];
  ldmatrix<1>(r, s + threadIdx.x % 8 * 8);
  out[threadIdx.x] = r[0];
}

__global__ void ldmatrix_misaligned_kernel(uint32_t* out) {
  __shared__ __align__(16) uint16_t s[32 * 8 + 8];
  uint32_t r[1];
  ldmatrix<1>(r, s + threadIdx.x % 8 * 8 + (threadIdx.x == 3 ? 4 : 0));  // lane 3: 8 bytes off
  out[threadIdx.x] = r[0];
}

__global__ void mma_divergent_kernel(float* out) {
  const uint32_t a[4] = {}, b[2] = {};
  float acc[4] = {};
  if (threadIdx.x < 16)
    mma_m16n8k16<__half>(acc, a, b);
  else
    mma_m16n8k16<__half>(acc, a, b);  // another instruction: .aligned forbids it
  out[threadIdx.x] = acc[0];
}

}  // namespace

namespace farm::emu_test {

void ldmatrix_layout(const uint16_t* src, uint32_t* out, int num, bool trans) {
  auto* k = num == 1 ? (trans ? &ldmatrix_layout_kernel<1, true> : &ldmatrix_layout_kernel<1, false>)
            : num == 2 ? (trans ? &ldmatrix_layout_kernel<2, true> : &ldmatrix_layout_kernel<2, false>)
                       : (trans ? &ldmatrix_layout_kernel<4, true> : &ldmatrix_layout_kernel<4, false>);
  FARM_LAUNCH(k, 1, 32, 0, 0, src, out);
}

void mma_registers(const uint32_t* a, const uint32_t* b, const float* c, float* d, bool bf16) {
  auto* k = bf16 ? &mma_registers_kernel<__nv_bfloat16> : &mma_registers_kernel<__half>;
  FARM_LAUNCH(k, 1, 32, 0, 0, a, b, c, d);
}

void mma_gemm(const uint16_t* a, const uint16_t* b, float* c, int k, bool b_nk, int pad, bool bf16) {
  const size_t smem = (32 * (k + pad) + (b_nk ? 32 * (k + pad) : k * (32 + pad))) * sizeof(uint16_t);
  if (bf16) {
    auto* kernel = &mma_gemm_kernel<__nv_bfloat16>;
    FARM_LAUNCH(kernel, 1, 128, smem, 0, reinterpret_cast<const __nv_bfloat16*>(a),
                reinterpret_cast<const __nv_bfloat16*>(b), c, k, b_nk, pad);
  } else {
    auto* kernel = &mma_gemm_kernel<__half>;
    FARM_LAUNCH(kernel, 1, 128, smem, 0, reinterpret_cast<const __half*>(a), reinterpret_cast<const __half*>(b), c,
                k, b_nk, pad);
  }
}

namespace {
template <class T>
T* scratch_of() {
  T* p = nullptr;
  cudaMalloc(&p, 1024 * sizeof(T));
  return p;
}
}  // namespace

void ldmatrix_exited_lanes() { FARM_LAUNCH(ldmatrix_exited_lanes_kernel, 1, 32, 0, 0, scratch_of<uint32_t>()); }
void ldmatrix_misaligned() { FARM_LAUNCH(ldmatrix_misaligned_kernel, 1, 32, 0, 0, scratch_of<uint32_t>()); }
void mma_divergent() { FARM_LAUNCH(mma_divergent_kernel, 1, 32, 0, 0, scratch_of<float>()); }

}  // namespace farm::emu_test
