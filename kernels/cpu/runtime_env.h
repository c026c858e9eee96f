// Environment settings the cpu backend runs best with. Both are read by the
// libraries only when the process loads, so a program (launcher, benchmark)
// asks for them first thing in main() and, when the list is not empty, sets
// them and re-executes itself (see benchmarks/bench_kernels.cpp).
//
// * OPENBLAS_CORETYPE: a DYNAMIC_ARCH OpenBLAS older than the CPU falls back
//   to generic SSE3 "Prescott" kernels (OpenBLAS 0.3.21 on Emerald Rapids:
//   sgemm 3× slower); named here when that happened on an AVX-512/AVX2 CPU.
// * OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning.
//   On a shared 2-core machine the default spin-then-sleep made every
//   parallel region cost ~20 ms (an SD 1.5 3×3 conv ran at 19 instead of
//   44 GFLOP/s); on an idle machine a futex wake-up costs microseconds.
#pragma once

#include <string>
#include <vector>

namespace farm::kernels::cpu {

struct EnvSetting {
  std::string name, value;
};

// The settings above that are not yet set in this process's environment.
std::vector<EnvSetting> recommended_cpu_env();

// Sets the missing recommended settings and re-executes this program with
// the same arguments (prints one line per setting to stderr, prefixed by
// `program`, unless `quiet`). Returns only when nothing was missing or the
// exec failed.
void reexec_with_recommended_env(const char* program, char** argv, bool quiet = false);

// The OpenBLAS kernel family this process runs ("SkylakeX", "Prescott", ...).
const char* blas_core_name();

}  // namespace farm::kernels::cpu
