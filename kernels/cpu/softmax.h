// The fp32 attention's softmax row (attention.cpp); the bf16 attention fuses its own
// with the rounding to bf16 (softmax_bf16_tiles in bf16_gemm.h).
#pragma once

#include <cstdint>

namespace farm::kernels::cpu {

// s[j] = exp(scale · s[j] - max) for j < visible and 0 for visible <= j < n
// (max over the scaled visible entries); returns their sum. fp32 throughout;
// scale 1 leaves the scores' bits as they are.
float softmax_row(float* s, int64_t n, int64_t visible, float scale);

}  // namespace farm::kernels::cpu
