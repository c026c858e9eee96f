// Warp collectives in a 64-thread block (2 warps); each lane writes what it
// got into out[op * 64 + thread], op < 14.
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

namespace {

__global__ void warp_ops_kernel(int* out, int width) {
  const int t = threadIdx.x, lane = t % 32;
  const unsigned full = 0xffffffffu;
  int* o = out + t;
  o[0 * 64] = __shfl_sync(full, t * 10, 3, width);
  o[1 * 64] = __shfl_up_sync(full, t * 10, 2, width);
  o[2 * 64] = __shfl_down_sync(full, t * 10, 2, width);
  o[3 * 64] = __shfl_xor_sync(full, t * 10, 5, width);
  o[4 * 64] = static_cast<int>(__ballot_sync(full, lane % 3 == 0));
  o[5 * 64] = __any_sync(full, t == 40);
  o[6 * 64] = __all_sync(full, lane < 31);
  o[7 * 64] = __reduce_add_sync(full, lane);
  o[8 * 64] = static_cast<int>(__match_any_sync(full, lane / 8));
  // Half a warp with its own mask: lanes 0-15 only.
  if (lane < 16) o[9 * 64] = __shfl_down_sync(0x0000ffffu, t, 1, 16);
  __syncwarp();
  const float f = __shfl_sync(full, static_cast<float>(t) + 0.5f, 31 - lane);
  o[10 * 64] = static_cast<int>(f * 2.0f);
  const int c = __syncthreads_count(t % 4 == 0);
  o[11 * 64] = c;
  o[12 * 64] = __syncthreads_or(t == 63) + 2 * __syncthreads_and(t < 64);
  // 16-bit values travel too (exact: integers below 2048).
  o[13 * 64] = static_cast<int>(__half2float(__shfl_xor_sync(full, __int2half_rn(t), 1)));
}

}  // namespace

namespace farm::emu_test {

void warp_ops(int* out, int width) { FARM_LAUNCH(warp_ops_kernel, 1, 64, 0, 0, out, width); }

}  // namespace farm::emu_test
