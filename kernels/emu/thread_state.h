// Per-fiber and per-block state of a running emulated kernel, and the
// thread_local pointers behind threadIdx/blockIdx/blockDim/gridDim.
// Needs dim3/uint3 from the CUDA headers (included first by emu.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace farm::emu {

class Fiber;
struct BlockState;

inline constexpr unsigned kWarpSize = 32;
inline constexpr unsigned kMaxThreadsPerBlock = 1024;

// Where a thread waits: the call site of a barrier or warp op.
struct Site {
  const char* file = "?";
  unsigned line = 0;
};

enum class Wait : uint8_t { running, block_barrier, warp_op, exited };

enum class BarrierKind : uint8_t { sync, count, all, any };

enum class WarpOpKind : uint8_t {
  sync,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  any,
  all,
  match_any,
  match_all,
  reduce_add,
  reduce_min_s,
  reduce_max_s,
  reduce_min_u,
  reduce_max_u,
  reduce_and,
  reduce_or,
  reduce_xor,
  custom,
};

struct ThreadState;

// A lane's part of a warp collective: what it brings, what it gets back.
struct LaneOp {
  WarpOpKind kind = WarpOpKind::sync;
  const char* name = "";  // the intrinsic, for diagnostics
  unsigned mask = 0;
  int arg = 0;  // source lane, delta or lane mask for shuffles
  int width = 32;
  uint64_t value = 0;
  uint64_t result = 0;
  // kind == custom: run once for the whole group when every lane arrived;
  // lanes[i] is the lane i of the warp (nullptr when not in the mask).
  void (*custom)(ThreadState* const* lanes, unsigned mask) = nullptr;
  void* payload = nullptr;
};

// A cp.async issued by a thread and not yet landed in shared memory: the
// source bytes are read at issue (so AddressSanitizer names the issuing line),
// the shared-memory write happens only when a cp.async.wait_group that covers
// its group runs (kernels/emu/async_copy.h).
struct PendingCopy {
  unsigned char* dst = nullptr;
  unsigned char bytes[16] = {};
  unsigned size = 0;
  uint32_t group = 0;  // the commit group it belongs to (0, 1, ... per thread)
};

struct ThreadState {
  uint3 idx{};
  unsigned linear = 0;
  unsigned lane = 0;
  unsigned warp = 0;
  Wait wait = Wait::running;
  Site site;  // where it waits now
  BarrierKind barrier = BarrierKind::sync;
  int barrier_value = 0;  // predicate in, result out
  LaneOp op;
  std::vector<PendingCopy> async_copies;  // issue order
  uint32_t async_groups_committed = 0;
  Fiber* fiber = nullptr;
  BlockState* block = nullptr;
};

// One kernel launch, type-erased: invoke(closure) runs the kernel body once.
struct Launch {
  const char* kernel = "?";
  Site site;  // the FARM_LAUNCH call site
  dim3 grid;
  dim3 block;
  size_t dynamic_smem = 0;
  void (*invoke)(const void* closure) = nullptr;
  const void* closure = nullptr;
};

struct BlockState {
  uint3 idx{};
  const Launch* launch = nullptr;
  unsigned char* dynamic_smem = nullptr;
  ThreadState* threads = nullptr;
  unsigned thread_count = 0;
};

namespace detail {
extern thread_local ThreadState* tl_thread;
extern thread_local BlockState* tl_block;
[[noreturn]] void outside_kernel(const char* what);
}  // namespace detail

inline ThreadState& this_thread() {
  if (!detail::tl_thread) detail::outside_kernel("threadIdx or a device intrinsic");
  return *detail::tl_thread;
}
inline BlockState& this_block() {
  if (!detail::tl_block) detail::outside_kernel("blockIdx/blockDim/gridDim");
  return *detail::tl_block;
}
inline unsigned char* dynamic_shared_memory() { return this_block().dynamic_smem; }
inline int warp_size() { return static_cast<int>(kWarpSize); }

}  // namespace farm::emu
