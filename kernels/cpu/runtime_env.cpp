#include "kernels/cpu/runtime_env.h"

#include <unistd.h>

#include <cstdio>

#include <cblas.h>

#include <cstdlib>
#include <cstring>

namespace farm::kernels::cpu {
namespace {

const char* better_blas_coretype() {
  if (std::strcmp(openblas_get_corename(), "Prescott") != 0) return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

}  // namespace

std::vector<EnvSetting> recommended_cpu_env() {
  std::vector<EnvSetting> env;
  if (const char* core = better_blas_coretype(); core && !std::getenv("OPENBLAS_CORETYPE"))
    env.push_back({"OPENBLAS_CORETYPE", core});
  if (!std::getenv("OMP_WAIT_POLICY")) env.push_back({"OMP_WAIT_POLICY", "PASSIVE"});
  return env;
}

const char* blas_core_name() { return openblas_get_corename(); }

void reexec_with_recommended_env(const char* program, char** argv, bool quiet) {
  const auto env = recommended_cpu_env();
  if (env.empty()) return;
  for (const auto& e : env) {
    if (!quiet) std::fprintf(stderr, "%s: running with %s=%s\n", program, e.name.c_str(), e.value.c_str());
    setenv(e.name.c_str(), e.value.c_str(), 1);
  }
  execv("/proc/self/exe", argv);
  std::perror("execv /proc/self/exe");  // carry on with the defaults
}

}  // namespace farm::kernels::cpu
