// Box-Muller on 16 floats in place, as torch's CPU normal_fill does it:
// data[0..8) and data[8..16) hold uniforms in [0, 1) on entry, standard
// normals on return (pairs j, j+8). Two variants because torch's bits depend
// on the CPU capability it dispatched to:
//   avx2   — ATen built for AVX2/AVX512 (every x86-64 CPU since ~2015): the
//            cephes polynomials of avx_mathfun.h (log256_ps, sincos256_ps),
//            replayed here in scalar float with the same operation order.
//   scalar — ATEN_CPU_CAPABILITY=default, or CPUs without AVX2: libm logf,
//            cosf, sinf (bit-exact only where our libm is glibc, like torch's).
#pragma once

namespace farm::rng {

enum class NormalKernel { avx2, scalar };

void normal_fill16_avx2(float* data);
void normal_fill16_scalar(float* data);

}  // namespace farm::rng
