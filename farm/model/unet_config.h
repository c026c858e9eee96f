// UNet2DConditionModel config (unet/config.json) for SD 1.x/2.x, with every
// field that changes the computation either supported or rejected by name.
#pragma once

#include <string>
#include <vector>

namespace farm::model {

struct UNetConfig {
  int64_t in_channels = 4, out_channels = 4;
  std::vector<int64_t> block_out_channels;  // per level
  std::vector<int64_t> layers_per_block;    // per level
  std::vector<bool> down_cross_attention;   // per level: CrossAttnDownBlock2D?
  std::vector<bool> up_cross_attention;     // per up block (deepest first)
  bool mid_block = true;                    // UNetMidBlock2DCrossAttn
  std::vector<int64_t> heads;               // per level (diffusers' attention_head_dim is a head count)
  std::vector<int64_t> cross_attention_dim; // per level
  std::vector<int64_t> transformer_layers;  // per level
  int64_t norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0;
  bool upcast_attention = false;  // fp32 here anyway; recorded for the CUDA backend
  int64_t sample_size = 64;

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  int64_t time_embed_dim() const { return block_out_channels[0] * 4; }
  int64_t context_dim() const { return cross_attention_dim[0]; }
  // The image side the UNet was trained at, behind a VAE of this scale
  // factor: diffusers' default height and width (SD 1.5: 64 x 8 = 512).
  int64_t native_image_size(int64_t vae_scale_factor) const { return sample_size * vae_scale_factor; }

  static UNetConfig load(const std::string& path);
};

}  // namespace farm::model
