// A KernelCase resident on the GPU, for `farm selftest` and bench_cuda: the
// inputs uploaded once as fp16/bf16 (rounded as the staging adapter of
// kernels/check/staging_ops.cpp rounds them: timesteps stay fp32), an output
// buffer, and a launch that only queues the kernel, so cudaEvents time the
// kernel and nothing else. Needs a CUDA device (kernels_cuda).
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "kernels/cuda/autotune.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {

// "" when a CUDA device can run kernels, else why not, e.g.
// "cudaGetDeviceCount: no CUDA-capable device is detected".
std::string cuda_device_problem();

class DeviceCase {
 public:
  // inputs: one fp32 vector per input_specs(c), for c.batch samples.
  DeviceCase(const KernelCase& c, cuda::DType dtype, const std::vector<std::vector<float>>& inputs);
  ~DeviceCase();
  DeviceCase(const DeviceCase&) = delete;
  DeviceCase& operator=(const DeviceCase&) = delete;

  // Queues the op on `stream`; `path` picks the conv2d implementation (other
  // ops ignore it). "" or why it cannot run (cuDNN missing or unsupported).
  std::string launch(cudaStream_t stream, cuda::ConvPath path = cuda::ConvPath::hand_written);
  // Zeroes the output (attention leaves the gaps of a wide out_stride alone).
  void clear_output(cudaStream_t stream);
  // Waits for the device and returns the output as fp32.
  std::vector<float> download() const;
  // Bytes read + written once per launch at the device element sizes.
  double bytes_moved() const;
  const KernelCase& kernel_case() const { return c_; }

 private:
  KernelCase c_;
  cuda::DType dtype_;
  std::vector<void*> inputs_;
  std::vector<size_t> input_bytes_;
  void* out_ = nullptr;
  int64_t out_n_ = 0;
};

// The fp32 reference and the "same precision" baseline of precision_bound.h
// for c.batch samples: `oracle` run on the inputs, and on the inputs rounded
// to dtype with its output rounded too.
struct Reference {
  std::vector<float> want, baseline;
};
Reference reference_for(const Ops& oracle, const KernelCase& c, cuda::DType dtype,
                        const std::vector<std::vector<float>>& inputs);

}  // namespace farm::kernels::testing
