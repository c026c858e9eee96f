// Internal: state the launcher shares with the CUDA runtime subset.
#pragma once

#include <cstddef>

namespace farm::emu::detail {

void set_last_error(cudaError_t e);
void count_launch();
// Opt-in limit from cudaFuncSetAttribute(MaxDynamicSharedMemorySize);
// 48 KiB without it, as on the GPU.
size_t max_dynamic_smem(const void* kernel);

inline constexpr size_t kDefaultDynamicSmem = 48 * 1024;
inline constexpr size_t kMaxOptInSmem = 227 * 1024;  // sm_90; sm_80 allows 163 KiB

}  // namespace farm::emu::detail
