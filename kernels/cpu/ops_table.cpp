#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/f32_gemm.h"
#include "kernels/ref/ref_ops.h"

namespace farm::kernels {

const Ops& cpu_ops() {
  static const Ops ops{
      .name = "cpu",
      .conv2d = cpu::conv2d,
      .linear = cpu::linear,
      .attention = cpu::attention,
      .group_norm = cpu::group_norm,
      .layer_norm = cpu::layer_norm,
      .rms_norm = cpu::rms_norm,
      .rope = ref::rope,  // one pass over q/k per layer: ref's loop is memory-bound already
      .silu = cpu::silu,
      .gelu = cpu::gelu,
      .quick_gelu = cpu::quick_gelu,
      .add = cpu::add,
      .geglu = cpu::geglu,
      .swiglu = cpu::swiglu,
      .modulate = cpu::modulate,
      .gated_residual = cpu::gated_residual,
      .upsample_nearest2x = cpu::upsample_nearest2x,
      .concat_channels = cpu::concat_channels,
      .patchify = cpu::patchify,
      // A few hundred sin/cos per sample: ref's loop is already fast enough.
      .timestep_embedding = ref::timestep_embedding,
      .conv2d_upsampled2x = cpu::conv2d_upsampled2x,
      .linear_geglu = cpu::f32_kernel_available() ? cpu::linear_geglu : nullptr,
  };
  return ops;
}

}  // namespace farm::kernels
