// Fatal diagnostics: every emulator error names the kernel, the launch site,
// the block and the thread(s), then aborts (a hang or wrong answer must not
// pass a test).
#pragma once

#include <sstream>
#include <string>

#include "kernels/emu/thread_state.h"

namespace farm::emu {

[[noreturn]] void fatal(const std::string& msg);

std::string describe(const uint3& v);
// "kernel 'k' (launched at f.cu:12), block (1,0,0)"
std::string describe(const BlockState& b);
// "thread (3,0,0) [warp 0 lane 3]"
std::string describe(const ThreadState& t);
std::string describe(const Site& s);

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

// Install the SIGSEGV handler that turns a guard-page hit into a "stack
// overflow" report, and an alternate signal stack for this OS thread.
void install_overflow_handler();

// Watchdog: a background thread aborts with a report when a worker makes no
// progress (no fiber switch) for options().timeout_s while a kernel runs.
struct WorkerSlot;
WorkerSlot* watchdog_register();
void watchdog_unregister(WorkerSlot* slot);
void watchdog_tick(WorkerSlot* slot, const ThreadState* running);

}  // namespace farm::emu
