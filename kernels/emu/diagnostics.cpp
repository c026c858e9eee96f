#include "kernels/emu/cuda_headers.h"
#include "kernels/emu/diagnostics.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "kernels/emu/fiber.h"
#include "kernels/emu/options.h"

namespace farm::emu {

namespace detail {
thread_local ThreadState* tl_thread = nullptr;
thread_local BlockState* tl_block = nullptr;

void outside_kernel(const char* what) {
  fatal(cat("farm-emu: ", what, " used outside a running kernel (host code cannot call device intrinsics)"));
}
}  // namespace detail

void fatal(const std::string& msg) {
  std::cerr << msg << std::endl;
  std::abort();
}

std::string describe(const uint3& v) { return cat('(', v.x, ',', v.y, ',', v.z, ')'); }

std::string describe(const Site& s) { return cat(s.file, ':', s.line); }

std::string describe(const BlockState& b) {
  return cat("kernel '", b.launch->kernel, "' (launched at ", describe(b.launch->site), "), block ", describe(b.idx));
}

std::string describe(const ThreadState& t) {
  return cat("thread ", describe(t.idx), " [warp ", t.warp, " lane ", t.lane, ']');
}

// ---- stack overflow ------------------------------------------------------

namespace {

struct sigaction g_previous_segv;
std::once_flag g_segv_once;

// Async-signal-safe output: write(2) only, no allocation.
void put(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  ssize_t r = write(STDERR_FILENO, s, n);
  (void)r;
}
void put_uint(unsigned long v) {
  char buf[24];
  int i = 23;
  buf[i] = 0;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  put(buf + i);
}
void put_dim(const uint3& v) {
  put("(");
  put_uint(v.x);
  put(",");
  put_uint(v.y);
  put(",");
  put_uint(v.z);
  put(")");
}

void on_segv(int sig, siginfo_t* info, void* ctx) {
  const ThreadState* t = detail::tl_thread;
  if (t && t->fiber) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const Fiber& f = *t->fiber;
    const auto guard = reinterpret_cast<uintptr_t>(f.guard_lo);
    // The guard region, or anything a big frame may have jumped to below it.
    if (addr + 16 * kGuardBytes >= guard && addr < reinterpret_cast<uintptr_t>(f.stack_lo)) {
      put("farm-emu: stack overflow in kernel '");
      put(t->block->launch->kernel);
      put("' (launched at ");
      put(t->block->launch->site.file);
      put(":");
      put_uint(t->block->launch->site.line);
      put("), block ");
      put_dim(t->block->idx);
      put(", thread ");
      put_dim(t->idx);
      put(": the fiber stack is ");
      put_uint(f.stack_size / 1024);
      put(" KiB; large local arrays belong in shared or global memory (or raise FARM_EMU_STACK_KB)\n");
      abort();
    }
  }
  // Not ours: hand it to whoever was there before (the default, or ASan).
  if (g_previous_segv.sa_flags & SA_SIGINFO) {
    if (g_previous_segv.sa_sigaction) {
      g_previous_segv.sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    g_previous_segv.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);  // returning re-executes the fault and dies with SIGSEGV
}

struct AltStack {
  std::unique_ptr<char[]> mem;
  size_t size = 0;
  ~AltStack() {
    if (!mem) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
  }
};

}  // namespace

void install_overflow_handler() {
  std::call_once(g_segv_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous_segv);
  });
  thread_local AltStack alt;
  if (!alt.mem) {
    alt.size = 64 * 1024;
    alt.mem = std::make_unique<char[]>(alt.size);
    stack_t ss{};
    ss.ss_sp = alt.mem.get();
    ss.ss_size = alt.size;
    sigaltstack(&ss, nullptr);
  }
}

// ---- watchdog ------------------------------------------------------------

struct WorkerSlot {
  std::atomic<bool> used{false};
  std::atomic<uint64_t> ticks{0};
  std::atomic<const ThreadState*> running{nullptr};
};

namespace {

constexpr int kSlots = 256;
WorkerSlot g_slots[kSlots];
std::once_flag g_watchdog_once;

void watchdog_loop() {
  uint64_t seen[kSlots] = {};
  auto since = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point stalled_since[kSlots];
  for (auto& s : stalled_since) s = since;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = std::chrono::steady_clock::now();
    for (int i = 0; i < kSlots; ++i) {
      WorkerSlot& slot = g_slots[i];
      const uint64_t ticks = slot.ticks.load(std::memory_order_relaxed);
      if (!slot.used.load(std::memory_order_acquire) || ticks != seen[i]) {
        seen[i] = ticks;
        stalled_since[i] = now;
        continue;
      }
      const double stalled = std::chrono::duration<double>(now - stalled_since[i]).count();
      if (stalled < options().timeout_s) continue;
      const ThreadState* t = slot.running.load(std::memory_order_relaxed);
      std::string who = t ? cat(describe(*t->block), ", ", describe(*t)) : std::string("a kernel");
      fatal(cat("farm-emu: watchdog: no progress for ", stalled, " s in ", who,
                ": a spin-wait on another thread's write, or an endless loop (the emulator runs one thread "
                "until it blocks, so spin-waits never end; raise FARM_EMU_TIMEOUT_S if the kernel is just slow)"));
    }
  }
}

}  // namespace

WorkerSlot* watchdog_register() {
  std::call_once(g_watchdog_once, [] { std::thread(watchdog_loop).detach(); });
  for (auto& slot : g_slots) {
    bool expected = false;
    if (slot.used.compare_exchange_strong(expected, true)) {
      slot.ticks.fetch_add(1, std::memory_order_relaxed);
      return &slot;
    }
  }
  fatal("farm-emu: more than 256 worker threads at once");
}

void watchdog_unregister(WorkerSlot* slot) {
  slot->running.store(nullptr, std::memory_order_relaxed);
  slot->used.store(false, std::memory_order_release);
}

void watchdog_tick(WorkerSlot* slot, const ThreadState* running) {
  // Only this worker writes its slot: a plain load and store, no locked add.
  slot->ticks.store(slot->ticks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  slot->running.store(running, std::memory_order_relaxed);
}

}  // namespace farm::emu
