// Pointwise ops over OpenMP threads, with the vectorisable fast_math
// functions in loops cloned per ISA. Each element's value depends only on its
// input (no reductions), so results do not depend on n, the thread split or
// the batch.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/fast_math.h"

namespace farm::kernels::cpu {
namespace {

constexpr int64_t kParallelMin = 32768;
constexpr int64_t kChunk = 4096;  // elements per work item

#define FARM_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

FARM_CPU_CLONES void silu_run(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = fast_silu(x[i]);
}

FARM_CPU_CLONES void gelu_run(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = fast_gelu(x[i]);
}

FARM_CPU_CLONES void quick_gelu_run(int64_t n, const float* x, float* y) {
  // x · sigmoid(1.702 x) from exp(-|1.702 x|), as fast_silu (fast_math.h) and for its reason.
  for (int64_t i = 0; i < n; ++i) {
    const float z = 1.702f * x[i], e = fast_exp(z < 0.0f ? z : -z);
    y[i] = z < 0.0f ? x[i] * e / (1.0f + e) : x[i] / (1.0f + e);
  }
}

FARM_CPU_CLONES void geglu_run(int64_t n, const float* hidden, const float* gate, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = hidden[i] * fast_gelu(gate[i]);
}

FARM_CPU_CLONES void swiglu_run(int64_t n, const float* gate, const float* up, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = fast_silu(gate[i]) * up[i];
}

// f(x + i, y + i, len) over chunks, in parallel when n is large.
template <class Run>
void chunked(int64_t n, const float* x, float* y, Run run) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i = c * kChunk;
    run(std::min(kChunk, n - i), x + i, y + i);
  }
}

}  // namespace

void silu(int64_t n, const float* x, float* y) { chunked(n, x, y, silu_run); }

void gelu(int64_t n, const float* x, float* y) { chunked(n, x, y, gelu_run); }

void quick_gelu(int64_t n, const float* x, float* y) { chunked(n, x, y, quick_gelu_run); }

void add(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void geglu_span(int64_t n, const float* hidden, const float* gate, float* y) { geglu_run(n, hidden, gate, y); }

// x[r] = [hidden(inner) | gate(inner)], as diffusers' GEGLU chunks proj(x).
void geglu(int64_t rows, int64_t inner, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    geglu_run(inner, x + r * 2 * inner, x + r * 2 * inner + inner, y + r * inner);
}

// x[r] = [gate(inner) | up(inner)], the fused [w1 | w3] projection.
void swiglu(int64_t rows, int64_t inner, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    swiglu_run(inner, x + r * 2 * inner, x + r * 2 * inner + inner, y + r * inner);
}

// Per-sample channel vectors: (1 + scale) and tanh(gate) formed once per
// sample, then one pass over its rows.
void modulate(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y) {
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<float> s(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) s[static_cast<size_t>(c)] = 1.0f + scale[b * channels + c];
#pragma omp parallel for schedule(static) if (rows * channels > kParallelMin)
    for (int64_t i = 0; i < rows; ++i) {
      const float* xr = x + (b * rows + i) * channels;
      float* yr = y + (b * rows + i) * channels;
      for (int64_t c = 0; c < channels; ++c) yr[c] = xr[c] * s[static_cast<size_t>(c)];
    }
  }
}

void gated_residual(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h) {
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<float> g(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) g[static_cast<size_t>(c)] = std::tanh(gate[b * channels + c]);
#pragma omp parallel for schedule(static) if (rows * channels > kParallelMin)
    for (int64_t i = 0; i < rows; ++i) {
      const float* yr = y + (b * rows + i) * channels;
      float* hr = h + (b * rows + i) * channels;
      for (int64_t c = 0; c < channels; ++c) hr[c] = hr[c] + g[static_cast<size_t>(c)] * yr[c];
    }
  }
}

}  // namespace farm::kernels::cpu
