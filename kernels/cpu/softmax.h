// The fp32 attention's softmaxes (attention.cpp): by rows for the one-pass
// path, down columns for the transposed flash path; the bf16 attention fuses its own
// with the rounding to bf16 (softmax_bf16_tiles in bf16_gemm.h).
#pragma once

#include <cstdint>

namespace farm::kernels::cpu {

// s[j] = exp(scale · s[j] - max) for j < visible and 0 for visible <= j < n
// (max over the scaled visible entries); returns their sum. fp32 throughout;
// scale 1 leaves the scores' bits as they are.
float softmax_row(float* s, int64_t n, int64_t visible, float scale);

// One block of keys of an online softmax done down columns (the transposed
// flash path of attention.cpp): s is [keys][16·vecs], lane q a query. For
// each q: m = max(col_max[q], scale · s[j][q]) over the block, s[j][q] =
// exp(scale · s[j][q] − m), alpha[q] = exp(col_max[q] − m) and col_sum[q] =
// col_sum[q] · alpha[q] + Σ_j s[j][q]; col_max[q] = m. With `first`, the
// block starts the softmax (no previous max or sum). vecs 1 to 4.
void softmax_columns(float* s, int64_t keys, int vecs, float scale, float* col_max, float* col_sum, float* alpha,
                     bool first);

}  // namespace farm::kernels::cpu
