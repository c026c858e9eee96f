// Full-size Stable Diffusion shapes for the GPU (farm selftest, bench_cuda):
// the SD 1.5 cases of tests/kernels (512x512, 64x64 latents) plus SD 1.5's
// deeper attention levels, SD 2.x at 768x768 (96x96 latents, head dim 64)
// and SDXL at 1024x1024 (128x128 latents, 10/20 heads of 64, 2048-wide
// text context). Too large for the emulator; same KernelCase type.
#pragma once

#include <vector>

#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {

const std::vector<KernelCase>& sd_full_size_cases();

}  // namespace farm::kernels::testing
