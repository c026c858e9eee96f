// The reference backend's ops, one per file in kernels/ref/; ops_table.cpp
// gathers them into ref_ops(). Signatures and layouts are those of Ops in
// kernels/ops.h.
#pragma once

#include "kernels/ops.h"

namespace farm::kernels::ref {

void conv2d(const Conv2dArgs& a, const float* x, const float* w, const float* bias,
            const float* residual, float* y);
void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w,
            const float* bias, const float* residual, float* y);
void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out);
void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps,
                const float* x, const float* gamma, const float* beta, bool silu, float* y);
void layer_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma,
                const float* beta, float* y);
void rms_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y);
void rope(const RopeArgs& a, const float* table, float* x);
void swiglu(int64_t rows, int64_t inner, const float* x, float* y);
void modulate(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y);
void gated_residual(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h);
void silu(int64_t n, const float* x, float* y);
void gelu(int64_t n, const float* x, float* y);
void quick_gelu(int64_t n, const float* x, float* y);
void add(int64_t n, const float* a, const float* b, float* y);
void geglu(int64_t rows, int64_t inner, const float* x, float* y);
void upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x, float* y);
void patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x, float* y);
void concat_channels(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb,
                     const float* b, float* y);
void timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                        float downscale_freq_shift, float max_period, float* y);

}  // namespace farm::kernels::ref
