// The emulator's own cuda_fp16.h: __half and __half2 with the toolkit's
// host-side interface as far as the emulated sources use it (conversions,
// the raw structs, host intrinsics). Conversions are bit-exact with the
// toolkit's (farm_emu_float16.h). The intrinsics the toolkit declares for the
// device only (__hfma, hexp, __half2int_rn, ...) are in
// kernels/emu/half_intrinsics.h.
#pragma once

#include "farm_emu_headers.h"

#include "farm_emu_float16.h"

struct alignas(2) __half_raw {
  unsigned short x;
};

struct __half;
__half __float2half(float a);
__half __double2half(double a);
float __half2float(__half a);

struct alignas(2) __half {
 protected:
  unsigned short __x;

 public:
  __half() = default;
  constexpr __half(const __half_raw& r) : __x(r.x) {}
  __half& operator=(const __half_raw& r) {
    __x = r.x;
    return *this;
  }
  operator __half_raw() const { return __half_raw{__x}; }
  // Implicit, as in the toolkit (without __CUDA_NO_HALF_CONVERSIONS__).
  __half(float f) : __x(static_cast<__half_raw>(__float2half(f)).x) {}
  __half(double f) : __x(static_cast<__half_raw>(__double2half(f)).x) {}
  operator float() const { return __half2float(*this); }
  __half& operator=(float f) { return *this = __float2half(f); }
  __half& operator=(double f) { return *this = __double2half(f); }
};

struct alignas(4) __half2 {
  __half x;
  __half y;
  __half2() = default;
  constexpr __half2(const __half& a, const __half& b) : x(a), y(b) {}
};

inline __half __float2half_rn(float a) { return __half_raw{farm::emu::float16::encode(a, farm::emu::float16::kHalf)}; }
inline __half __float2half(float a) { return __float2half_rn(a); }
inline __half __double2half(double a) { return __half_raw{farm::emu::float16::encode(a, farm::emu::float16::kHalf)}; }
inline __half __int2half_rn(int i) { return __double2half(i); }  // exact in double: one rounding
inline float __half2float(__half a) { return farm::emu::float16::decode_half(static_cast<__half_raw>(a).x); }

inline __half2 __halves2half2(__half a, __half b) { return __half2(a, b); }
inline __half2 __float2half2_rn(float a) { return __half2(__float2half_rn(a), __float2half_rn(a)); }
inline float __low2float(__half2 a) { return __half2float(a.x); }
inline float __high2float(__half2 a) { return __half2float(a.y); }

FARM_EMU_FLOAT16_OPERATORS(__half, __half2float, __float2half)

inline __half __hadd(__half a, __half b) { return a + b; }
inline __half2 __hadd2(__half2 a, __half2 b) { return __half2(a.x + b.x, a.y + b.y); }
inline bool __hisnan(__half a) { return (static_cast<__half_raw>(a).x & 0x7fffu) > 0x7c00u; }
