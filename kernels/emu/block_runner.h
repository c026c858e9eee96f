// Runs one thread block: one fiber per CUDA thread, each run until it blocks
// (barrier, warp collective) or exits; releases barriers and completes warp
// collectives when their threads arrived, and aborts with a report on a
// divergent barrier or a deadlock.
#pragma once

#include <memory>
#include <vector>

#include "kernels/emu/diagnostics.h"
#include "kernels/emu/fiber.h"
#include "kernels/emu/thread_state.h"

namespace farm::emu {

class BlockRunner {
 public:
  BlockRunner(const Launch& launch, FiberPool& pool, WorkerSlot* slot, bool reverse);
  ~BlockRunner();
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  void run(uint3 block_idx);

 private:
  bool complete_warp_ops();
  bool try_complete_group(unsigned warp, unsigned lane);
  void release_barrier();
  [[noreturn]] void report_deadlock();

  const Launch& launch_;
  FiberPool& pool_;
  WorkerSlot* slot_;
  std::vector<ThreadState> threads_;
  std::vector<unsigned> order_;
  BlockState block_;
  unsigned warps_ = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> smem_;
};

}  // namespace farm::emu
