// ResnetBlock2D as diffusers builds it for SD's UNet and VAE (time embedding
// optional; 1×1 conv_shortcut when channels change; output_scale_factor 1).
#pragma once

#include "farm/model/layers.h"

namespace farm::model {

struct ResnetBlock {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2;
  Linear time_emb_proj;  // absent (out == 0) in the VAE
  Conv2d conv_shortcut;  // absent (out == 0) when in == out
  int64_t in = 0, out = 0;

  // temb_channels 0: no time embedding.
  void load(const WeightLoader& w, const std::string& prefix, int64_t in, int64_t out, int64_t temb_channels,
            int64_t groups, float eps);
  // x [B,H,W,in], temb [B, temb_channels] or null -> [B,H,W,out]
  Tensor forward(Backend& be, const Tensor& x, const Tensor* temb) const;
  // The same, consuming x: with a shortcut conv, x's storage takes the first
  // norm in place and is freed after conv1, so two activations of x's size
  // are live, not three (a VAE decoder's 256 -> 128 block at 512²: the
  // decode's memory peak). The same bits.
  Tensor forward(Backend& be, Tensor&& x, const Tensor* temb) const;

 private:
  void add_time(Backend& be, Tensor& h, const Tensor* temb) const;  // h += time_emb_proj(silu(temb))
};

}  // namespace farm::model
