// Fibers: one per emulated CUDA thread. A fiber runs on its own mmap'ed stack
// (guard region below it) and switches cooperatively with the worker thread
// that owns it; fibers never migrate between OS threads.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace farm::emu {

// A stack and its saved context. `entry(arg)` runs on first resume and must
// end with exit_fiber(), never return.
class Fiber {
 public:
  void prepare(void (*entry)(void*), void* arg);
  // Called on the worker's own stack: run the fiber until it yields or exits.
  void resume();
  // Called on the fiber's stack: hand control back to the worker.
  void yield();
  // Called on the fiber's stack as its last act.
  [[noreturn]] void exit_fiber();

  char* stack_lo = nullptr;  // lowest usable byte (the guard lies below)
  size_t stack_size = 0;
  char* guard_lo = nullptr;  // the PROT_NONE region below stack_lo

 private:
  friend void fiber_trampoline_entry(Fiber* f);
  friend class FiberPool;
  void* sp_ = nullptr;         // saved stack pointer while switched out
  void* worker_sp_ = nullptr;  // saved worker stack pointer while running
  void (*entry_)(void*) = nullptr;
  void* arg_ = nullptr;
  // AddressSanitizer fiber bookkeeping (unused without ASan).
  void* asan_fake_stack_ = nullptr;
  const void* worker_stack_lo_ = nullptr;
  size_t worker_stack_size_ = 0;
};

// Stacks for up to `count` fibers, each `stack_size` bytes plus a guard
// region; reused from block to block.
class FiberPool {
 public:
  FiberPool(size_t count, size_t stack_size);
  ~FiberPool();
  FiberPool(const FiberPool&) = delete;
  FiberPool& operator=(const FiberPool&) = delete;

  size_t size() const { return fibers_.size(); }
  size_t stack_size() const { return stack_size_; }
  Fiber& operator[](size_t i) { return fibers_[i]; }
  // Under ASan: forget stale poisoning left by fibers that never returned.
  void unpoison(size_t count);

 private:
  std::vector<Fiber> fibers_;
  size_t stack_size_;
  char* base_ = nullptr;
  size_t bytes_ = 0;
};

// Guard region size below each stack; large so that a big frame cannot jump
// over it into the neighbouring stack (with -fstack-clash-protection it
// cannot jump at all).
inline constexpr size_t kGuardBytes = 64 * 1024;

}  // namespace farm::emu
