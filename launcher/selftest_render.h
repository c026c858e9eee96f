// The render half of `farm selftest` (CUDA builds): one image of a small
// model rendered on this rank's GPU by the device-resident backend, checked
// against the fp32 CPU render with the rule the emulated render tests use
// (tests/cuda/test_cuda_emu_render.cpp): error at most 2x that of the same
// render on the rounded reference, plus one 16-bit unit.
#pragma once

#include <string>

#include "kernels/cuda/cuda_common.h"

namespace farm::launcher {

struct RenderSelftest {
  bool ok = false;
  std::string report;  // one line per dtype
};

// `model_dir` empty: the shipped models/tiny-shapes, looked up beside the binary's source tree.
RenderSelftest run_render_selftest(const std::string& model_dir, kernels::cuda::DType dtype, int local_rank,
                                   int local_ranks, const std::string& host);

}  // namespace farm::launcher
