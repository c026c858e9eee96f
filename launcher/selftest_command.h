// `farm selftest`: for a user on a GPU node. Runs every CUDA kernel on the
// device against the reference (and conv2d against cuDNN, linear is
// cuBLAS) over the test case list and the real SD 1.5/2.x/XL shapes,
// printing max error, bound, pass/fail, time and TFLOP/s or GB/s per
// kernel; prints the conv autotune table; checks NCCL send/recv between
// ranks under mpirun. Exit codes: 0 all passed, 1 a mismatch (on any rank),
// 3 no CUDA device (or a build without CUDA).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace farm::launcher {

inline constexpr int kSelftestNoDevice = 3;

// Adds the subcommand; the returned function runs it (exit code). argc/argv
// go to MPI_Init when the command runs under mpirun.
std::function<int()> add_selftest_command(CLI::App& app, int* argc, char*** argv);

}  // namespace farm::launcher
