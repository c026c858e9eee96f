// Rotary position tables for kernels' rope op: table[t, i] = (cos, sin) of
// token t's angle for pair i, host fp32 [tokens, head_dim / 2, 2], computed as
// the reference implementations compute them (the angle's rounding is what
// moves a rotated value at long positions).
#pragma once

#include <cstdint>

#include "farm/core/tensor.h"

namespace farm::model {

// transformers' default rotary embedding (Llama, Qwen3): inv_freq_i =
// 1 / theta^(2i / head_dim) in fp32, angle = position · inv_freq_i in fp32,
// for positions first, first + 1, ..., first + count - 1. Rotate-half pairs
// (i, i + head_dim/2) share angle i.
Tensor rotary_table_1d(int64_t first, int64_t count, int64_t head_dim, double theta);

}  // namespace farm::model
