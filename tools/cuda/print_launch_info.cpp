// Prints "kernel<TAB>threads<TAB>dynamic_smem_bytes" for every kernel
// instantiation of kernels/cuda (from the emulated build: the same constants
// as the nvcc build, and it runs without a GPU). Input of resource_report.sh.
#include <cstdio>

#include "kernels/cuda/launch_info.h"

int main() {
  for (const auto& k : farm::kernels::cuda::kernel_launch_info())
    std::printf("%s\t%d\t%d\n", k.kernel.c_str(), k.threads, k.dynamic_smem_bytes);
  return 0;
}
