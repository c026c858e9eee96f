// The emulator's own vector_types.h: the CUDA vector types the emulated
// sources use (threadIdx/blockIdx are uint3, launch shapes dim3, 16-byte
// loads uint4), laid out and aligned as in the toolkit.
#pragma once

#include "farm_emu_headers.h"

struct uint3 {
  unsigned int x, y, z;
};

struct alignas(16) uint4 {
  unsigned int x, y, z, w;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
