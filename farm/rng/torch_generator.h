// Noise bit-identical to torch's CPU generator, so a seed renders the same
// starting latents as diffusers with generator=torch.Generator("cpu").manual_seed(seed).
#pragma once

#include <cstdint>
#include <optional>

#include "farm/rng/mt19937.h"
#include "farm/rng/normal_fill16.h"

namespace farm::rng {

class TorchGenerator {
 public:
  // torch.Generator("cpu").manual_seed(seed); torch keeps only seed's low 32
  // bits for the Mersenne Twister. The default kernel matches torch on any
  // AVX2 or AVX512 x86-64 CPU.
  explicit TorchGenerator(uint64_t seed, NormalKernel kernel = NormalKernel::avx2);

  // == torch.randn(shape, generator=g) for float32 with numel n. Repeated
  // calls continue the stream as repeated torch.randn calls do.
  void randn(float* out, int64_t n);

  uint32_t random() { return engine_(); }
  uint64_t random64();

 private:
  float uniform_float();
  double uniform_double();
  double normal_double();

  Mt19937 engine_;
  NormalKernel kernel_;
  // torch caches the second Box-Muller value of the n < 16 path in the
  // generator; it survives into the next randn call.
  std::optional<double> next_double_normal_;
};

// A seed for a request with seed -1: non-deterministic, in [0, 2^63).
uint64_t random_seed();

}  // namespace farm::rng
