// cp.async through kernels/cuda/async_copy.cuh: tile copies of every size,
// zero fill, commit groups and partial waits, a double-buffered reduction,
// and the bugs the emulator must expose (a read before the wait, a write into
// a buffer with copies still in flight, a misaligned copy).
#include "kernels/emu/cuda_compat.h"
#include "kernels/cuda/async_copy.cuh"
#include "tests/emu/emu_test_kernels.h"

namespace {

using namespace farm::kernels::cuda_device;

// out[i] = in[i] for n ints (n multiple of 4 * blockDim), copied through
// dynamic shared memory in kBytes pieces.
template <int kBytes>
__global__ void copy_through_smem_kernel(const int* in, int* out, int n, bool wait) {
  FARM_DYNAMIC_SHARED(int, s);
  constexpr int kInts = kBytes / 4;
  for (int i = threadIdx.x * kInts; i < n; i += blockDim.x * kInts) cp_async<kBytes>(s + i, in + i);
  cp_async_commit();
  if (wait) cp_async_wait<0>();
  __syncthreads();
  // Read another thread's piece: a wait plus the barrier make it visible.
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[n - 1 - i] = s[n - 1 - i];
}

// 16-byte pieces with only `valid` ints of `in` readable: the rest zero filled.
__global__ void zfill_kernel(const int* in, int valid, int* out, int n) {
  FARM_DYNAMIC_SHARED(int, s);
  for (int i = threadIdx.x * 4; i < n; i += blockDim.x * 4) {
    const int left = valid - i;
    const int bytes = left >= 4 ? 16 : left > 0 ? left * 4 : 0;
    cp_async_zfill(s + i, bytes > 0 ? in + i : in, bytes);
  }
  cp_async_wait_all();
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = s[i];
}

// One thread, two groups: after wait_group 1 the first has landed, the second
// has not (0xFF bytes: -1); a store into the second's destination is
// overwritten when it lands.
__global__ void groups_kernel(const int* in, int* out) {
  FARM_DYNAMIC_SHARED(int, s);  // 12 ints
  cp_async<16>(s, in);
  cp_async_commit();
  cp_async<16>(s + 4, in + 4);
  cp_async_commit();
  cp_async<4>(s + 8, in + 0);  // not committed: wait_group never waits for it
  cp_async_wait<1>();
  for (int i = 0; i < 8; ++i) out[i] = s[i];  // 0..3 landed, 4..7 undefined
  s[5] = 12345;                               // races with the copy still in flight
  cp_async_wait<0>();
  for (int i = 0; i < 8; ++i) out[8 + i] = s[i];  // 4..7 landed over the store
  out[16] = s[8];                                 // still undefined
  cp_async_wait_all();
  out[17] = s[8];
}

// sum of in[0..tiles*256) with 256-int tiles double buffered: tile t+1 is
// loading while tile t is summed. `early_reuse`: the bug of issuing the next
// load into the buffer being read (no barrier before the reuse).
__global__ void pipelined_sum_kernel(const int* in, int tiles, int* out, bool early_reuse) {
  FARM_DYNAMIC_SHARED(int, s);  // 2 x 256 ints
  constexpr int kTile = 256;
  const int t4 = threadIdx.x * 4;  // 64 threads x 4 ints
  cp_async<16>(s + t4, in + t4);
  cp_async_commit();
  int acc = 0;
  for (int t = 0; t < tiles; ++t) {
    int* cur = s + (t % 2) * kTile;
    if (t + 1 < tiles) cp_async<16>(s + ((t + 1) % 2) * kTile + t4, in + (t + 1) * kTile + t4);
    cp_async_commit();  // an empty group on the last tile keeps the count uniform
    cp_async_wait<1>();  // this thread's copies of tile t have landed
    __syncthreads();     // ... and every other thread's
    for (int i = 0; i < 4; ++i) acc += cur[(t4 + 4 * 17 + i) % kTile];  // another thread's piece
    if (!early_reuse) __syncthreads();  // nobody reads `cur` any more before it is refilled
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

__global__ void misaligned_kernel(const int* in, int* out) {
  FARM_DYNAMIC_SHARED(int, s);
  cp_async<16>(s + 1, in);  // shared address 4 bytes past a 16-byte boundary
  cp_async_wait_all();
  out[0] = s[1];
}

}  // namespace

namespace farm::emu_test {

void async_copy_through_smem(const int* in, int* out, int n, int piece_bytes, bool wait) {
  const size_t smem = static_cast<size_t>(n) * sizeof(int);
  auto* kernel = piece_bytes == 4   ? &copy_through_smem_kernel<4>
                 : piece_bytes == 8 ? &copy_through_smem_kernel<8>
                                    : &copy_through_smem_kernel<16>;
  FARM_LAUNCH(kernel, 1, 64, smem, 0, in, out, n, wait);
}
void async_copy_zfill(const int* in, int valid, int* out, int n) {
  FARM_LAUNCH(zfill_kernel, 1, 32, static_cast<size_t>(n) * sizeof(int), 0, in, valid, out, n);
}
void async_copy_groups(const int* in, int* out) { FARM_LAUNCH(groups_kernel, 1, 1, 12 * sizeof(int), 0, in, out); }
void async_copy_pipelined_sum(const int* in, int tiles, int* out, bool early_reuse) {
  FARM_LAUNCH(pipelined_sum_kernel, 2, 64, 2 * 256 * sizeof(int), 0, in, tiles, out, early_reuse);
}
void async_copy_misaligned() {
  int* p = nullptr;
  cudaMalloc(&p, 64 * sizeof(int));
  FARM_LAUNCH(misaligned_kernel, 1, 1, 64 * sizeof(int), 0, p, p);
}

}  // namespace farm::emu_test
