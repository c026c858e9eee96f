// The launch shape of every compiled kernel instantiation (threads per block,
// dynamic shared memory), for tools/cuda/resource_report.sh: ptxas reports
// registers and static shared memory but not what a launch asks for.
// `kernel` is the name as c++filt prints it, without the namespace and the
// parameter list, e.g. "flash_attention_fwd_kernel<__half, 48, 64>".
#pragma once

#include <string>
#include <vector>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

struct KernelLaunchInfo {
  std::string kernel;
  int threads = 0;
  int dynamic_smem_bytes = 0;
};

void append_attention_launch_info(std::vector<KernelLaunchInfo>& out);
void append_conv2d_launch_info(std::vector<KernelLaunchInfo>& out);
void append_norm_launch_info(std::vector<KernelLaunchInfo>& out);
void append_elementwise_launch_info(std::vector<KernelLaunchInfo>& out);
void append_gather_launch_info(std::vector<KernelLaunchInfo>& out);
void append_attention_rows_launch_info(std::vector<KernelLaunchInfo>& out);

inline std::vector<KernelLaunchInfo> kernel_launch_info() {
  std::vector<KernelLaunchInfo> v;
  append_attention_launch_info(v);
  append_conv2d_launch_info(v);
  append_norm_launch_info(v);
  append_elementwise_launch_info(v);
  append_gather_launch_info(v);
  append_attention_rows_launch_info(v);
  return v;
}

FARM_CUDA_NAMESPACE_END
