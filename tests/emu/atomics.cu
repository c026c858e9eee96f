// Atomics from many threads and blocks; every result is exact (small integer
// values), so the sums do not depend on the order of the additions.
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

namespace {

struct Acc {
  int count;
  unsigned max_seen;
  float float_sum;
  __half half_sum;
  __nv_bfloat16 bf16_sum;
  int cas_max_bits;
  unsigned long long ull_sum;
  unsigned inc;
};

__device__ void atomic_max_float(int* bits, float v) {
  int old = *bits;
  while (__int_as_float(old) < v) {
    const int prev = atomicCAS(bits, old, __float_as_int(v));
    if (prev == old) break;
    old = prev;
  }
}

__global__ void atomics_kernel(Acc* acc) {
  const unsigned id = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(&acc->count, 1);
  atomicMax(&acc->max_seen, id);
  atomicAdd(&acc->float_sum, 1.0f);
  if (id < 64) atomicAdd(&acc->half_sum, __float2half(1.0f));
  if (id < 64) atomicAdd(&acc->bf16_sum, __float2bfloat16(1.0f));
  atomic_max_float(&acc->cas_max_bits, static_cast<float>(id % 1000) * 0.5f);
  atomicAdd(&acc->ull_sum, static_cast<unsigned long long>(id));
  atomicInc(&acc->inc, 9u);  // counts 0..9, then wraps to 0
}

__global__ void ticket_kernel(int* counter, int* tickets) { tickets[threadIdx.x] = atomicAdd(counter, 1); }

}  // namespace

namespace farm::emu_test {

AtomicResults run_atomics(int blocks, int threads) {
  Acc* d = nullptr;
  cudaMalloc(&d, sizeof(Acc));
  cudaMemset(d, 0, sizeof(Acc));
  FARM_LAUNCH(atomics_kernel, blocks, threads, 0, 0, d);
  Acc h;
  cudaMemcpy(&h, d, sizeof(Acc), cudaMemcpyDeviceToHost);
  cudaFree(d);
  AtomicResults r;
  r.count = h.count;
  r.max_seen = h.max_seen;
  r.float_sum = h.float_sum;
  r.half_sum = __half2float(h.half_sum);
  r.bf16_sum = __bfloat162float(h.bf16_sum);
  float cas_max = 0;
  memcpy(&cas_max, &h.cas_max_bits, sizeof(float));
  r.cas_max = cas_max;
  r.ull_sum = h.ull_sum;
  r.inc_wrapped = h.inc;
  return r;
}

void ticket_order(int* tickets, int threads) {
  int* counter = nullptr;
  cudaMalloc(&counter, sizeof(int));
  cudaMemset(counter, 0, sizeof(int));
  FARM_LAUNCH(ticket_kernel, 1, threads, 0, 0, counter, tickets);
  cudaFree(counter);
}

}  // namespace farm::emu_test
