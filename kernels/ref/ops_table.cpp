#include "kernels/ref/ref_ops.h"

namespace farm::kernels {

const Ops& ref_ops() {
  static const Ops ops{
      .name = "ref",
      .conv2d = ref::conv2d,
      .linear = ref::linear,
      .attention = ref::attention,
      .group_norm = ref::group_norm,
      .layer_norm = ref::layer_norm,
      .rms_norm = ref::rms_norm,
      .rope = ref::rope,
      .silu = ref::silu,
      .gelu = ref::gelu,
      .quick_gelu = ref::quick_gelu,
      .add = ref::add,
      .geglu = ref::geglu,
      .swiglu = ref::swiglu,
      .modulate = ref::modulate,
      .gated_residual = ref::gated_residual,
      .upsample_nearest2x = ref::upsample_nearest2x,
      .concat_channels = ref::concat_channels,
      .patchify = ref::patchify,
      .timestep_embedding = ref::timestep_embedding,
  };
  return ops;
}

}  // namespace farm::kernels
