// Deliberately wrong kernels: each must make the emulator abort with a
// report (tests/emu/test_diagnostics.cpp runs them in death tests).
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

namespace {

__global__ void divergent_barrier_kernel(float* out) {
  __shared__ float s[64];
  s[threadIdx.x] = 1.0f;
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();  // a different barrier: undefined on the GPU
  }
  out[threadIdx.x] = s[63 - threadIdx.x];
}

__global__ void warp_deadlock_kernel(float* out) {
  float v = threadIdx.x;
  if (threadIdx.x % 32 == 0) v = __shfl_sync(0xffffffffu, v, 1);  // the other lanes never come
  __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void spin_wait_kernel(volatile int* flag) {
  while (*flag == 0) {
  }
}

__global__ void stack_overflow_kernel(float* out) {
  volatile float big[64 * 1024];  // 256 KiB of registers/local memory
  for (int i = 0; i < 64 * 1024; i += 1024) big[i] = static_cast<float>(i);
  out[threadIdx.x] = big[threadIdx.x * 7];
}

__global__ void exited_lane_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void dynamic_smem_overrun_kernel(float* out) {
  FARM_DYNAMIC_SHARED(float, s);
  s[threadIdx.x] = 1.0f;  // 32 threads, 16 floats allocated
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void wmma_misaligned_kernel(const __half* a, float* c) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
  wmma::load_matrix_sync(fa, a + 1, 16);  // not 32-byte aligned
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, static_cast<float>(fa.x[0]));
  wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

__global__ void empty_kernel(float* out) { out[0] = 1.0f; }

float* scratch() {
  float* p = nullptr;
  cudaMalloc(&p, 1024 * sizeof(float));
  return p;
}

}  // namespace

namespace farm::emu_test {

void divergent_barrier() { FARM_LAUNCH(divergent_barrier_kernel, 1, 64, 0, 0, scratch()); }
void warp_deadlock() { FARM_LAUNCH(warp_deadlock_kernel, 1, 64, 0, 0, scratch()); }
void spin_wait_forever() {
  int* flag = nullptr;
  cudaMalloc(&flag, sizeof(int));
  cudaMemset(flag, 0, sizeof(int));
  FARM_LAUNCH(spin_wait_kernel, 1, 32, 0, 0, flag);
}
void stack_overflow() { FARM_LAUNCH(stack_overflow_kernel, 1, 32, 0, 0, scratch()); }
void shuffle_with_exited_lane() { FARM_LAUNCH(exited_lane_kernel, 1, 32, 0, 0, scratch()); }
void dynamic_smem_overrun() { FARM_LAUNCH(dynamic_smem_overrun_kernel, 1, 32, 16 * sizeof(float), 0, scratch()); }
void wmma_misaligned() {
  __half* a = nullptr;
  cudaMalloc(&a, 512 * sizeof(__half));
  FARM_LAUNCH(wmma_misaligned_kernel, 1, 32, 0, 0, a, scratch());
}

int launch_with_smem(int smem, bool opt_in) {
  if (opt_in) cudaFuncSetAttribute(empty_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  float* p = scratch();
  FARM_LAUNCH(empty_kernel, 1, 32, smem, 0, p);
  cudaFree(p);
  return static_cast<int>(cudaGetLastError());
}
int launch_with_block(int threads) {
  float* p = scratch();
  FARM_LAUNCH(empty_kernel, 1, threads, 0, 0, p);
  cudaFree(p);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace farm::emu_test
