// The case list of the emulated CUDA kernels: shapes of SD 1.5 / 2.x / XL
// blocks scaled down so the SIMT emulator runs them in seconds, plus ragged
// edges (channel counts not multiples of 16, odd H/W, q_len/kv_len not
// multiples of the tiles, kv_len 77). Same KernelCase type and runner as
// tests/kernels, so a case here runs on every backend the same way.
#pragma once

#include <vector>

#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {

const std::vector<KernelCase>& cuda_emu_cases();

}  // namespace farm::kernels::testing
