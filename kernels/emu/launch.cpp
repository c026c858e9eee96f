#include "kernels/emu/cuda_headers.h"
#include "kernels/emu/launch.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/emu/block_runner.h"
#include "kernels/emu/diagnostics.h"
#include "kernels/emu/options.h"
#include "kernels/emu/runtime_state.h"

namespace farm::emu {

namespace {

// Fiber stacks are mapped once and reused by every launch.
std::mutex g_pools_mutex;
std::vector<std::unique_ptr<FiberPool>> g_free_pools;

std::unique_ptr<FiberPool> acquire_pool() {
  const size_t stack = options().stack_bytes;
  {
    std::lock_guard<std::mutex> lock(g_pools_mutex);
    for (auto it = g_free_pools.begin(); it != g_free_pools.end(); ++it) {
      if ((*it)->stack_size() >= stack && (*it)->stack_size() < 2 * stack + 4096) {
        auto p = std::move(*it);
        g_free_pools.erase(it);
        return p;
      }
    }
  }
  return std::make_unique<FiberPool>(kMaxThreadsPerBlock, stack);
}

void release_pool(std::unique_ptr<FiberPool> p) {
  std::lock_guard<std::mutex> lock(g_pools_mutex);
  g_free_pools.push_back(std::move(p));
}

void run_blocks(const Launch& l, std::atomic<uint64_t>& next, uint64_t total, bool reverse) {
  install_overflow_handler();
  auto pool = acquire_pool();
  WorkerSlot* slot = watchdog_register();
  {
    BlockRunner runner(l, *pool, slot, reverse);
    const uint64_t gx = l.grid.x, gy = l.grid.y;
    for (;;) {
      const uint64_t k = next.fetch_add(1, std::memory_order_relaxed);
      if (k >= total) break;
      const uint64_t b = reverse ? total - 1 - k : k;
      runner.run(uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>(b / gx % gy),
                       static_cast<unsigned>(b / (gx * gy))});
    }
  }
  watchdog_unregister(slot);
  release_pool(std::move(pool));
}

bool valid_config(const Launch& l) {
  const dim3 b = l.block, g = l.grid;
  const uint64_t n = uint64_t{b.x} * b.y * b.z;
  return n >= 1 && n <= kMaxThreadsPerBlock && b.x <= 1024 && b.y <= 1024 && b.z <= 64 && g.x >= 1 && g.y >= 1 &&
         g.z >= 1 && g.x <= 0x7fffffffu && g.y <= 65535 && g.z <= 65535;
}

}  // namespace

void launch_grid(const Launch& l, const void* kernel_id) {
  if (detail::tl_thread)
    fatal(cat("farm-emu: kernel '", l.kernel, "' launched from device code at ", describe(l.site),
              " (dynamic parallelism is not emulated)"));
  if (!valid_config(l)) {
    detail::set_last_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (l.dynamic_smem > detail::max_dynamic_smem(kernel_id)) {
    detail::set_last_error(cudaErrorInvalidValue);
    return;
  }
  detail::count_launch();
  const uint64_t total = uint64_t{l.grid.x} * l.grid.y * l.grid.z;
  const bool reverse = options().reverse;
  const uint64_t workers = std::min<uint64_t>(static_cast<uint64_t>(std::max(1, options().workers)), total);
  std::atomic<uint64_t> next{0};
  std::vector<std::thread> extra;
  for (uint64_t w = 1; w < workers; ++w) extra.emplace_back([&] { run_blocks(l, next, total, reverse); });
  run_blocks(l, next, total, reverse);
  for (auto& t : extra) t.join();
}

}  // namespace farm::emu
