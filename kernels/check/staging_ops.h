// The CUDA kernels behind the fp32 host-pointer op table of kernels/ops.h,
// for checking kernels one op at a time (tests, benchmarks' verification,
// farm selftest): every call converts its fp32 inputs to fp16/bf16, copies
// them to the device, runs the kernel and copies the result back as fp32.
// Never a render path: renders run on the device-resident backend of
// kernels/cuda/cuda_backend.h.
#pragma once

#include "kernels/cuda/cuda_common.h"
#include "kernels/ops.h"

namespace farm::kernels {

// kernels_cuda (nvcc, a GPU at run time).
const Ops& cuda_staging_ops(cuda::DType dtype = cuda::DType::f16);
// kernels_cuda_emu: the same kernel sources on the CPU through the SIMT emulator.
const Ops& cuda_emu_staging_ops(cuda::DType dtype = cuda::DType::f16);

}  // namespace farm::kernels
