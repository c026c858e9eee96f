// kernels/ref with the precision model of the CUDA staging adapter: every
// op's inputs rounded to fp16/bf16 (timesteps stay fp32), computed in fp32,
// the output rounded once. The "same computation at the same precision" a
// whole-model comparison bounds the emulated CUDA backend with.
#pragma once

#include "kernels/cuda/cuda_common.h"
#include "kernels/ops.h"

namespace farm::kernels::testing {

const Ops& rounded_ref_ops(cuda::DType dtype);

}  // namespace farm::kernels::testing
