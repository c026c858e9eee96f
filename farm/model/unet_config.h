// UNet2DConditionModel config (unet/config.json) for SD 1.x/2.x and SDXL, with every
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
  // SDXL's added conditioning (addition_embed_type "text_time"): six size and
  // crop ids, each embedded with addition_time_embed_dim sinusoids, beside the
  // pooled text embedding, through add_embedding into the time embedding.
  int64_t addition_time_embed_dim = 0;  // 0: none (SD 1.x/2.x)
  int64_t projection_class_embeddings_input_dim = 0;
  // The base's six ids: original h, w, crop top, left, target h, w. The
  // refiner's five (model_index.json requires_aesthetics_score): original
  // h, w, crop top, left, aesthetic score. Set by the pipeline, which knows.
  static constexpr int64_t kTimeIds = 6;
  int64_t time_ids = kTimeIds;

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  int64_t time_embed_dim() const { return block_out_channels[0] * 4; }
  int64_t context_dim() const { return cross_attention_dim[0]; }
  bool text_time() const { return addition_time_embed_dim > 0; }
  // The pooled text embedding's width that add_embedding expects.
  int64_t text_embeds_dim() const { return projection_class_embeddings_input_dim - time_ids * addition_time_embed_dim; }
  // The image side the UNet was trained at, behind a VAE of this scale
  // factor: diffusers' default height and width (SD 1.5: 64 x 8 = 512).
  int64_t native_image_size(int64_t vae_scale_factor) const { return sample_size * vae_scale_factor; }

  static UNetConfig load(const std::string& path);
};

}  // namespace farm::model
