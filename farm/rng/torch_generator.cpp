// Follows ATen/native/cpu/DistributionTemplates.h (normal_kernel, normal_fill)
// and ATen/core/DistributionsHelper.h (uniform_real_distribution,
// normal_distribution) of torch 2.x.
#include "farm/rng/torch_generator.h"

#include <cmath>
#include <random>

namespace farm::rng {

TorchGenerator::TorchGenerator(uint64_t seed, NormalKernel kernel) : engine_(seed), kernel_(kernel) {}

uint64_t TorchGenerator::random64() {
  const uint64_t hi = engine_();
  const uint64_t lo = engine_();
  return (hi << 32) | lo;
}

// 24 random mantissa bits -> [0, 1).
float TorchGenerator::uniform_float() {
  return static_cast<float>(engine_() & ((1u << 24) - 1)) * (1.0f / (1u << 24));
}

// 53 random mantissa bits -> [0, 1).
double TorchGenerator::uniform_double() {
  return static_cast<double>(random64() & ((uint64_t{1} << 53) - 1)) * (1.0 / static_cast<double>(uint64_t{1} << 53));
}

double TorchGenerator::normal_double() {
  if (next_double_normal_) {
    const double v = *next_double_normal_;
    next_double_normal_.reset();
    return v;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = 2.0 * 3.14159265358979323846 * u1;
  next_double_normal_ = r * std::sin(theta);
  return r * std::cos(theta);
}

void TorchGenerator::randn(float* out, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(normal_double());
    return;
  }
  auto fill16 = kernel_ == NormalKernel::avx2 ? normal_fill16_avx2 : normal_fill16_scalar;
  for (int64_t i = 0; i < n; ++i) out[i] = uniform_float();
  for (int64_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
  if (n % 16 != 0) {
    // torch redraws the last 16 (overlapping the last full block).
    float* tail = out + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
    fill16(tail);
  }
}

uint64_t random_seed() {
  std::random_device rd;
  const uint64_t hi = rd();
  const uint64_t lo = rd();
  return ((hi << 32) | lo) & ((uint64_t{1} << 63) - 1);
}

}  // namespace farm::rng
