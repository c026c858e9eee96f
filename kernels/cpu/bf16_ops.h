// The cpu backend's bf16 ops: conv2d, linear and attention with bf16
// operands and fp32 sums (bf16_gemm.h), everything else stays fp32 (norms,
// softmax, activations: cpu_ops.h). Activations are fp32 in and out; each is
// rounded to bf16 only as a GEMM reads it, as torch.autocast("cpu", bf16)
// rounds a matmul's inputs.
//
// Rows of a GEMM never interact (bf16_gemm.h), so these run the whole batch
// as one GEMM and stay batch invariant.
#pragma once

#include "kernels/cpu/bf16_gemm.h"
#include "kernels/ops.h"

namespace farm::kernels::cpu {

// As Ops::conv2d; w packed from [Cout, k·k·Cin] ([Cout, k, k, Cin] flattened).
void conv2d_bf16(const Conv2dArgs& a, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y);
// As conv2d_bf16 on x upsampled `upsample`× (nearest), read in place: `a`
// describes the upsampled input, x holds (in_h / upsample) × (in_w / upsample).
// The same bits as upsampling first.
void conv2d_upsampled_bf16(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w,
                           const float* bias, float* y);
// conv2d_bf16 by im2col whatever the geometry (bf16_conv.cpp): the general
// path, and what tests hold the direct one to.
void conv2d_bf16_im2col(const Conv2dArgs& a, int upsample, const float* x, const PackedBf16& w, const float* bias,
                        const float* residual, float* y);
// As Ops::linear; w packed from [out, in].
void linear_bf16(int64_t batch, int64_t rows, const float* x, const PackedBf16& w, const float* bias,
                 const float* residual, float* y);
// linear (w [2·inner, in]) and then geglu, without the linear's output
// (parallel_gemm_geglu_bf16); inner a multiple of 16.
void linear_geglu_bf16(int64_t batch, int64_t rows, const float* x, const PackedBf16& w, const float* bias, float* y);
// As Ops::attention: S = scale · bf16(Q) · bf16(K)^T, softmax in fp32,
// O = bf16(P) · bf16(V) / rowsum(P).
void attention_bf16(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out);

}  // namespace farm::kernels::cpu
