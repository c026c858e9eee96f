// The AMX kernel of the bf16 GEMM (bf16_gemm.h), the only file built with
// AMX and AVX-512 BF16 instructions; nothing here runs unless
// amx_available() said so.
//
// Blocking: 32×32 blocks of C in four 16×16 tiles (tmm0-3), two A tiles
// (tmm4-5, 16 rows × 32 k each, rows a fixed stride apart) and two B
// tiles (tmm6-7), over the whole of K: each C tile is stored once. Loads
// and products interleave so a product starts as soon as its two tiles are
// in (tile registers are not renamed: a load waits for the products reading
// the register before it). (Walking K in chunks, so a B panel stays in
// L1, needs a C tile load and store per chunk; on Sapphire Rapids that cost
// more than the L2 reads it saves: 295 vs 560 GFLOP/s for 128×320×2880.)
#include "kernels/cpu/bf16_gemm.h"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

// GCC 12 warns that the intrinsics' own _mm512_undefined_* "may be used
// uninitialized" once inlined (a known false positive of that release).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace farm::kernels::cpu {
namespace {

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Every tile 16 rows × 64 bytes; loaded once per thread.
void configure_tiles() {
  thread_local bool configured = false;
  if (configured) return;
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  configured = true;
}

}  // namespace

bool amx_available() {
  static const bool ok = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return false;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool amx_bf16 = edx & (1u << 22), amx_tile = edx & (1u << 24);
    const bool avx512f = ebx & (1u << 16);
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    const bool avx512_bf16 = eax & (1u << 5);
    if (!amx_bf16 || !amx_tile || !avx512f || !avx512_bf16) return false;
    // Linux hands out the 8 KB tile state only on request (ARCH_REQ_XCOMP_PERM
    // for XFEATURE_XTILEDATA); without it the first tile instruction faults.
    constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
  }();
  return ok;
}

bool to_bf16_avx512(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, reinterpret_cast<__m512i>(v));
  }
  if (i < n) {
    const __mmask16 lo = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
    const __mmask16 hi = static_cast<__mmask16>(n - i <= 16 ? 0 : (1u << (n - i - 16)) - 1);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + i + 16), _mm512_maskz_loadu_ps(lo, x + i));
    _mm512_mask_storeu_epi16(out + i, (static_cast<__mmask32>(hi) << 16) | lo, reinterpret_cast<__m512i>(v));
  }
  return true;
}

namespace {

// 2^t on 16 lanes: n = round(t), f = t - n in [-1/2, 1/2], 2^f by a
// degree-4 minimax polynomial (relative error 2.8e-6, fitted for this use:
// P is rounded to bf16, 2^-9, right after), times 2^n by VSCALEFPS, which
// goes to 0 for very negative t instead of wrapping the exponent. Half the
// instructions of fast_exp's Cephes polynomial, clamps and bit building:
// the softmax's exp was as costly as attention's two products.
inline __m512 exp2_16(__m512 t) {
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(0.009571123868227005f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.05592089891433716f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.240247443318367f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931213736534119f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.9999992251396179f));
  return _mm512_scalef_ps(p, n);
}

inline __mmask16 first_lanes(int64_t count) {
  return count >= 16 ? __mmask16{0xffff} : count <= 0 ? __mmask16{0} : static_cast<__mmask16>((1u << count) - 1);
}

}  // namespace

float softmax_bf16_tiles_avx512(const float* s, int64_t visible, int64_t k_pad, float scale, float* max_inout,
                                uint16_t* out) {
  const __m512 vscale = _mm512_set1_ps(scale), neg_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 vmax = _mm512_set1_ps(*max_inout);
  for (int64_t j = 0; j < visible; j += 16) {
    const __mmask16 m = first_lanes(visible - j);
    vmax = _mm512_max_ps(vmax, _mm512_mask_mul_ps(neg_inf, m, _mm512_maskz_loadu_ps(m, s + j), vscale));
  }
  *max_inout = _mm512_reduce_max_ps(vmax);
  // exp(scale·s − max) = 2^(s·scale·log2 e − max·log2 e): one FMA.
  constexpr float kLog2e = 1.44269504088896341f;
  const __m512 mul = _mm512_set1_ps(scale * kLog2e), sub = _mm512_set1_ps(*max_inout * kLog2e);
  // Lanes past `visible` are 0 (masked keys, padding); P rows go straight
  // into the PV GEMM's tile order, 32 elements per 64-byte run.
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < k_pad; j += 32) {
    const __mmask16 m0 = first_lanes(visible - j), m1 = first_lanes(visible - j - 16);
    const __m512 t0 = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m0, s + j), mul, sub);
    const __m512 t1 = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m1, s + j + 16), mul, sub);
    const __m512 e0 = _mm512_maskz_mov_ps(m0, exp2_16(t0)), e1 = _mm512_maskz_mov_ps(m1, exp2_16(t1));
    sum = _mm512_add_ps(_mm512_add_ps(sum, e0), e1);
    _mm512_storeu_si512(out + (j / 32) * 512, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(e1, e0)));
  }
  return _mm512_reduce_add_ps(sum);
}

void gemm_bf16_strided_amx(const Bf16Rows& a, int64_t m_pad, const PackedBf16& w, int64_t n0, int64_t n1, float* c,
                           int64_t ldc) {
  configure_tiles();
  const int64_t kt = w.k_pad / 32;
  const long c_stride = static_cast<long>(ldc * 4), a_stride = static_cast<long>(a.row_bytes);
  for (int64_t n = n0; n < n1; n += 32) {
    const uint16_t* b0 = w.data + (n / 16) * kt * 512;
    const uint16_t* b1 = b0 + kt * 512;
    const bool pair = n + 16 < n1;  // else a last panel of 16 columns
    for (int64_t m = 0; m < m_pad; m += 32) {
      const uint16_t* a0 = a.groups[m / 16];
      const uint16_t* a1 = a.groups[m / 16 + 1];
      float* c0 = c + m * ldc + (n - n0);
      float* c1 = c0 + 16 * ldc;
      _tile_zero(0);
      _tile_zero(1);
      if (pair) {
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t t = 0; t < kt; ++t) {
          _tile_loadd(4, a0 + a.koff[t], a_stride);
          _tile_loadd(6, b0 + t * 512, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_loadd(7, b1 + t * 512, 64);
          _tile_dpbf16ps(2, 4, 7);
          _tile_loadd(5, a1 + a.koff[t], a_stride);
          _tile_dpbf16ps(1, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(2, c0 + 16, c_stride);
        _tile_stored(3, c1 + 16, c_stride);
      } else {
        for (int64_t t = 0; t < kt; ++t) {
          _tile_loadd(4, a0 + a.koff[t], a_stride);
          _tile_loadd(5, a1 + a.koff[t], a_stride);
          _tile_loadd(6, b0 + t * 512, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 5, 6);
        }
      }
      _tile_stored(0, c0, c_stride);
      _tile_stored(1, c1, c_stride);
    }
  }
}

}  // namespace farm::kernels::cpu

#else  // not built for x86-64: no AMX

#include "kernels/ref/check.h"

namespace farm::kernels::cpu {

bool amx_available() { return false; }
bool to_bf16_avx512(const float*, int64_t, uint16_t*) { return false; }
float softmax_bf16_tiles_avx512(const float*, int64_t, int64_t, float, float*, uint16_t*) {
  FARM_KERNEL_CHECK(false, "the AVX-512 softmax is not built for this CPU");
  return 0.0f;
}
void gemm_bf16_strided_amx(const Bf16Rows&, int64_t, const PackedBf16&, int64_t, int64_t, float*, int64_t) {
  FARM_KERNEL_CHECK(false, "the AMX kernel is not built for this CPU");
}

}  // namespace farm::kernels::cpu

#endif
