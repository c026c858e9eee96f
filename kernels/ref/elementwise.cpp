// Pointwise activations and the GEGLU gate.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace farm::kernels::ref {
namespace {

// 0.5·x·(1 + erf(x/√2)) written with erfc, which keeps its precision where
// 1 + erf cancels (x << 0).
float gelu_exact(float v) { return 0.5f * v * std::erfc(-v * 0.70710678118654752f); }

}  // namespace

void silu(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void gelu(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_exact(x[i]);
}

void quick_gelu(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
}

void add(int64_t n, const float* a, const float* b, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// x[r] = [hidden(inner) | gate(inner)] as diffusers' GEGLU chunks proj(x).
void geglu(int64_t rows, int64_t inner, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* hidden = x + r * 2 * inner;
    const float* gate = hidden + inner;
    for (int64_t i = 0; i < inner; ++i) y[r * inner + i] = hidden[i] * gelu_exact(gate[i]);
  }
}

void swiglu(int64_t rows, int64_t inner, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = x + r * 2 * inner;
    const float* up = gate + inner;
    for (int64_t i = 0; i < inner; ++i) y[r * inner + i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }
}

void modulate(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t at = (b * rows + i) * channels + c;
        y[at] = x[at] * (1.0f + scale[b * channels + c]);
      }
}

void gated_residual(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t at = (b * rows + i) * channels + c;
        h[at] = h[at] + std::tanh(gate[b * channels + c]) * y[at];
      }
}

}  // namespace farm::kernels::ref
