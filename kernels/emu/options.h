// Emulator settings. Read once from the environment, then adjustable from
// code (tests do) between launches; not while a kernel runs.
//   FARM_EMU_WORKERS    worker threads that run blocks (default 1: deterministic)
//   FARM_EMU_REVERSE    1: run threads (and blocks) in reverse order
//   FARM_EMU_STACK_KB   fiber stack size (default 64, 256 under ASan)
//   FARM_EMU_TIMEOUT_S  watchdog: abort when no thread switch happens for this
//                       long while a kernel runs (default 60)
#pragma once

#include <cstddef>

namespace farm::emu {

struct Options {
  int workers = 1;
  bool reverse = false;
  size_t stack_bytes = 64 * 1024;
  double timeout_s = 60.0;
  // Fill dynamic shared memory with 0xFF bytes (NaN, -1) before each block so
  // reads before writes give visibly wrong answers.
  bool poison_dynamic_smem = true;
};

Options& options();

}  // namespace farm::emu
