// The runtime subset: memory, streams and events as synchronous host calls.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

#include "kernels/emu/counters.h"

namespace {

TEST(EmuRuntime, MemcpyMemsetRoundTrip) {
  std::vector<int> h(100);
  for (int i = 0; i < 100; ++i) h[i] = i * i;
  int* d = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), 100 * sizeof(int)), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 256, 0u);
  ASSERT_EQ(cudaMemset(d, 0xFF, 100 * sizeof(int)), cudaSuccess);
  std::vector<int> back(100, 0);
  ASSERT_EQ(cudaMemcpy(back.data(), d, 100 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back[57], -1);
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(d, h.data(), 100 * sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(back.data(), d, 100 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, h);
  // 2D: the 4 middle ints of each 10-int row.
  std::vector<int> sub(4 * 10);
  ASSERT_EQ(cudaMemcpy2D(sub.data(), 4 * sizeof(int), d + 3, 10 * sizeof(int), 4 * sizeof(int), 10,
                         cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(sub[2 * 4 + 1], h[2 * 10 + 4]);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

TEST(EmuRuntime, EventsMeasureHostTime) {
  cudaEvent_t a, b;
  ASSERT_EQ(cudaEventCreate(&a), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&b), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(a, nullptr), cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(cudaEventRecord(b, nullptr), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(b), cudaSuccess);
  float ms = 0;
  ASSERT_EQ(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
  EXPECT_GE(ms, 19.0f);
  EXPECT_LT(ms, 2000.0f);
  cudaEvent_t never;
  ASSERT_EQ(cudaEventCreate(&never), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, a, never), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading it resets it
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaEventDestroy(never);
}

TEST(EmuRuntime, DeviceProperties) {
  cudaDeviceProp p;
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  // FARM_EMU_DEVICES devices (8 unless set), one per rank of an emulated node.
  int n = 0;
  ASSERT_EQ(cudaGetDeviceCount(&n), cudaSuccess);
  const char* env = std::getenv("FARM_EMU_DEVICES");
  EXPECT_EQ(n, env ? std::max(1, std::atoi(env)) : 8);
  EXPECT_EQ(cudaSetDevice(n - 1), cudaSuccess);
  EXPECT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(cudaSetDevice(n), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
}

// The runtime's counters see every copy by kind, every allocation and sync.
TEST(EmuRuntime, CountsCopiesAllocationsAndSyncs) {
  const auto before = farm::emu::runtime_counters();
  void* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 100), cudaSuccess);
  char host[100] = {};
  ASSERT_EQ(cudaMemcpy(d, host, 100, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(host, d, 60, cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(nullptr), cudaSuccess);
  ASSERT_EQ(cudaFree(d), cudaSuccess);
  const auto after = farm::emu::runtime_counters();
  EXPECT_EQ(after.h2d_bytes - before.h2d_bytes, 100);
  EXPECT_EQ(after.d2h_bytes - before.d2h_bytes, 60);
  EXPECT_EQ(after.device_allocations - before.device_allocations, 1);
  EXPECT_EQ(after.device_frees - before.device_frees, 1);
  EXPECT_EQ(after.device_syncs - before.device_syncs, 1);
  EXPECT_EQ(after.stream_syncs - before.stream_syncs, 1);
}

}  // namespace
