// fp16/bf16 device intrinsics evaluated in a kernel: out[f * n + i] = f(in[i]).
#include "kernels/emu/cuda_compat.h"
#include "tests/emu/emu_test_kernels.h"

namespace {

__global__ void half_intrinsics_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const __half h = __float2half(in[i]);
  const __nv_bfloat16 b = __float2bfloat16(in[i]);
  float* o = out + i;
  o[0 * n] = __half2float(hsqrt(h));
  o[1 * n] = __half2float(hexp(h));
  o[2 * n] = __half2float(__hfma(h, h, __float2half(1.0f)));
  o[3 * n] = static_cast<float>(__half2int_rn(h));
  o[4 * n] = __bfloat162float(hsqrt(b));
  o[5 * n] = __bfloat162float(hexp(b));
  o[6 * n] = __bfloat162float(__hfma(b, b, __float2bfloat16(1.0f)));
  o[7 * n] = __expf(in[i]);
  o[8 * n] = __fdividef(in[i], 3.0f);
  o[9 * n] = rsqrtf(fabsf(in[i]) + 1.0f);
  const __half2 h2 = __hfma2(__halves2half2(h, h), __float2half2_rn(2.0f), __float2half2_rn(0.5f));
  o[10 * n] = __low2float(h2) + __high2float(h2);
  o[11 * n] = __half2float(hrsqrt(__float2half(fabsf(in[i]) + 1.0f)));
}

}  // namespace

namespace farm::emu_test {

void half_intrinsics(const float* in, float* out, int n) {
  FARM_LAUNCH(half_intrinsics_kernel, (n + 63) / 64, 64, 0, 0, in, out, n);
}

}  // namespace farm::emu_test
