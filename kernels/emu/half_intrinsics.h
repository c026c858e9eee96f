// fp16/bf16 device intrinsics that the toolkit's cuda_fp16.h / cuda_bf16.h
// declare for the device only (the host-side ones, conversions included, are
// in kernels/emu/include). Computed in float (fma in double) and rounded once
// to the 16-bit type; the GPU's approximate hexp/hsqrt/... may differ by an ulp.
#pragma once

#include <cmath>
#include <limits>

namespace farm::emu::fp {

inline float to_f(__half a) { return __half2float(a); }
inline float to_f(__nv_bfloat16 a) { return __bfloat162float(a); }
template <class H>
H from_f(float x);
template <>
inline __half from_f<__half>(float x) { return __float2half_rn(x); }
template <>
inline __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <class H>
H from_d(double x);
template <>
inline __half from_d<__half>(double x) { return __double2half(x); }
template <>
inline __nv_bfloat16 from_d<__nv_bfloat16>(double x) { return __double2bfloat16(x); }

template <class I>
I to_int(float x, int mode) {
  if (std::isnan(x)) return 0;
  const float r = mode == 0 ? std::nearbyint(x) : mode == 1 ? std::trunc(x) : mode == 2 ? std::floor(x) : std::ceil(x);
  const auto lo = static_cast<float>(std::numeric_limits<I>::min());
  const auto hi = static_cast<float>(std::numeric_limits<I>::max());
  if (r <= lo) return std::numeric_limits<I>::min();
  if (r >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(r);
}

}  // namespace farm::emu::fp

#define FARM_EMU_H_UNARY(name, pair_name, expr)                                         \
  inline __half name(__half a) {                                                        \
    const float x = farm::emu::fp::to_f(a);                                             \
    return farm::emu::fp::from_f<__half>(expr);                                         \
  }                                                                                     \
  inline __nv_bfloat16 name(__nv_bfloat16 a) {                                          \
    const float x = farm::emu::fp::to_f(a);                                             \
    return farm::emu::fp::from_f<__nv_bfloat16>(expr);                                  \
  }                                                                                     \
  inline __half2 pair_name(__half2 a) { return __half2(name(a.x), name(a.y)); }         \
  inline __nv_bfloat162 pair_name(__nv_bfloat162 a) { return __nv_bfloat162(name(a.x), name(a.y)); }

FARM_EMU_H_UNARY(hsqrt, h2sqrt, std::sqrt(x))
FARM_EMU_H_UNARY(hrsqrt, h2rsqrt, 1.0f / std::sqrt(x))
FARM_EMU_H_UNARY(hrcp, h2rcp, 1.0f / x)
FARM_EMU_H_UNARY(hexp, h2exp, std::exp(x))
FARM_EMU_H_UNARY(hexp2, h2exp2, std::exp2(x))
FARM_EMU_H_UNARY(hexp10, h2exp10, std::pow(10.0f, x))
FARM_EMU_H_UNARY(hlog, h2log, std::log(x))
FARM_EMU_H_UNARY(hlog2, h2log2, std::log2(x))
FARM_EMU_H_UNARY(hlog10, h2log10, std::log10(x))
FARM_EMU_H_UNARY(hsin, h2sin, std::sin(x))
FARM_EMU_H_UNARY(hcos, h2cos, std::cos(x))
FARM_EMU_H_UNARY(htanh, h2tanh, std::tanh(x))
FARM_EMU_H_UNARY(hceil, h2ceil, std::ceil(x))
FARM_EMU_H_UNARY(hfloor, h2floor, std::floor(x))
FARM_EMU_H_UNARY(htrunc, h2trunc, std::trunc(x))
FARM_EMU_H_UNARY(hrint, h2rint, std::nearbyint(x))
#undef FARM_EMU_H_UNARY

// One rounding, as the hardware's fused multiply-add.
inline __half __hfma(__half a, __half b, __half c) {
  using namespace farm::emu::fp;
  return from_d<__half>(std::fma(double{to_f(a)}, double{to_f(b)}, double{to_f(c)}));
}
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
  using namespace farm::emu::fp;
  return from_d<__nv_bfloat16>(std::fma(double{to_f(a)}, double{to_f(b)}, double{to_f(c)}));
}
inline __half __hfma_relu(__half a, __half b, __half c) {
  const __half r = __hfma(a, b, c);
  return __hisnan(r) || farm::emu::fp::to_f(r) >= 0.0f ? r : __float2half_rn(0.0f);
}
inline __nv_bfloat16 __hfma_relu(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
  const __nv_bfloat16 r = __hfma(a, b, c);
  return __hisnan(r) || farm::emu::fp::to_f(r) >= 0.0f ? r : __float2bfloat16_rn(0.0f);
}
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) { return __half2(__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)); }
inline __nv_bfloat162 __hfma2(__nv_bfloat162 a, __nv_bfloat162 b, __nv_bfloat162 c) {
  return __nv_bfloat162(__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y));
}

// Conversions to integers (the _rz ones exist on the host); NaN gives 0,
// out of range saturates (as on the GPU).
#define FARM_EMU_H_TO_INT(prefix, H, suffix, I, mode) \
  inline I prefix##suffix(H a) { return farm::emu::fp::to_int<I>(farm::emu::fp::to_f(a), mode); }
#define FARM_EMU_H_TO_INT_ALL(prefix, H, tname, I)       \
  FARM_EMU_H_TO_INT(prefix, H, 2##tname##_rn, I, 0)      \
  FARM_EMU_H_TO_INT(prefix, H, 2##tname##_rd, I, 2)      \
  FARM_EMU_H_TO_INT(prefix, H, 2##tname##_ru, I, 3)
FARM_EMU_H_TO_INT_ALL(__half, __half, int, int)
FARM_EMU_H_TO_INT_ALL(__half, __half, uint, unsigned)
FARM_EMU_H_TO_INT_ALL(__half, __half, short, short)
FARM_EMU_H_TO_INT_ALL(__half, __half, ushort, unsigned short)
FARM_EMU_H_TO_INT_ALL(__half, __half, ll, long long)
FARM_EMU_H_TO_INT_ALL(__bfloat16, __nv_bfloat16, int, int)
FARM_EMU_H_TO_INT_ALL(__bfloat16, __nv_bfloat16, uint, unsigned)
FARM_EMU_H_TO_INT_ALL(__bfloat16, __nv_bfloat16, short, short)
FARM_EMU_H_TO_INT_ALL(__bfloat16, __nv_bfloat16, ushort, unsigned short)
FARM_EMU_H_TO_INT_ALL(__bfloat16, __nv_bfloat16, ll, long long)
#undef FARM_EMU_H_TO_INT_ALL
#undef FARM_EMU_H_TO_INT
