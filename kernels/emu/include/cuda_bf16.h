// The emulator's own cuda_bf16.h: __nv_bfloat16 and __nv_bfloat162 with the
// toolkit's host-side interface as far as the emulated sources use it.
// Conversions are bit-exact with the toolkit's (farm_emu_float16.h); the
// device-only intrinsics are in kernels/emu/half_intrinsics.h. Includes
// cuda_fp16.h, as the toolkit's does.
#pragma once

#include "farm_emu_headers.h"

#include "cuda_fp16.h"
#include "farm_emu_float16.h"

struct alignas(2) __nv_bfloat16_raw {
  unsigned short x;
};

struct __nv_bfloat16;
__nv_bfloat16 __float2bfloat16(float a);
__nv_bfloat16 __double2bfloat16(double a);
float __bfloat162float(__nv_bfloat16 a);

struct alignas(2) __nv_bfloat16 {
 protected:
  unsigned short __x;

 public:
  __nv_bfloat16() = default;
  constexpr __nv_bfloat16(const __nv_bfloat16_raw& r) : __x(r.x) {}
  __nv_bfloat16& operator=(const __nv_bfloat16_raw& r) {
    __x = r.x;
    return *this;
  }
  operator __nv_bfloat16_raw() const { return __nv_bfloat16_raw{__x}; }
  // Implicit, as in the toolkit (without __CUDA_NO_BFLOAT16_CONVERSIONS__).
  __nv_bfloat16(float f) : __x(static_cast<__nv_bfloat16_raw>(__float2bfloat16(f)).x) {}
  __nv_bfloat16(double f) : __x(static_cast<__nv_bfloat16_raw>(__double2bfloat16(f)).x) {}
  operator float() const { return __bfloat162float(*this); }
  __nv_bfloat16& operator=(float f) { return *this = __float2bfloat16(f); }
  __nv_bfloat16& operator=(double f) { return *this = __double2bfloat16(f); }
};

struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x;
  __nv_bfloat16 y;
  __nv_bfloat162() = default;
  constexpr __nv_bfloat162(const __nv_bfloat16& a, const __nv_bfloat16& b) : x(a), y(b) {}
};

inline __nv_bfloat16 __float2bfloat16_rn(float a) {
  return __nv_bfloat16_raw{farm::emu::float16::encode(a, farm::emu::float16::kBfloat16)};
}
inline __nv_bfloat16 __float2bfloat16(float a) { return __float2bfloat16_rn(a); }
inline __nv_bfloat16 __double2bfloat16(double a) {
  return __nv_bfloat16_raw{farm::emu::float16::encode(a, farm::emu::float16::kBfloat16)};
}
inline float __bfloat162float(__nv_bfloat16 a) {
  return farm::emu::float16::decode_bfloat16(static_cast<__nv_bfloat16_raw>(a).x);
}

FARM_EMU_FLOAT16_OPERATORS(__nv_bfloat16, __bfloat162float, __float2bfloat16)

inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return a + b; }
inline __nv_bfloat162 __hadd2(__nv_bfloat162 a, __nv_bfloat162 b) { return __nv_bfloat162(a.x + b.x, a.y + b.y); }
inline bool __hisnan(__nv_bfloat16 a) { return (static_cast<__nv_bfloat16_raw>(a).x & 0x7fffu) > 0x7f80u; }
