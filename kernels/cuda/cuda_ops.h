// The CUDA backend behind the fp32 host-pointer op table of kernels/ops.h.
//
// A STAGING ADAPTER FOR VERIFICATION: every call converts its fp32 inputs to
// fp16/bf16, copies them to the device, runs the kernel and copies the result
// back as fp32. That is how the same case lists and models run on the CUDA
// kernels (and on their emulation) today. A device-resident backend, where
// activations stay on the GPU between ops, needs device tensors in farm/core:
// a later architecture change.
#pragma once

#include "kernels/cuda/cuda_common.h"
#include "kernels/ops.h"

namespace farm::kernels {

// kernels_cuda (nvcc, a GPU at run time).
const Ops& cuda_ops(cuda::DType dtype = cuda::DType::f16);
// kernels_cuda_emu: the same kernel sources on the CPU through the SIMT emulator.
const Ops& cuda_emu_ops(cuda::DType dtype = cuda::DType::f16);

}  // namespace farm::kernels
