#include "farm/model/unet_config.h"

#include "farm/core/error.h"
#include "farm/io/json_config.h"

namespace farm::model {

UNetConfig UNetConfig::load(const std::string& path) {
  const JsonConfig c = JsonConfig::load(path);
  UNetConfig u;
  u.in_channels = c.get_int("in_channels", 4);
  u.out_channels = c.get_int("out_channels", 4);
  u.block_out_channels = c.get_int_list("block_out_channels");
  const size_t n = u.block_out_channels.size();
  u.layers_per_block = c.get_int_or_list("layers_per_block", n, 2);
  const auto down = c.get_string_list("down_block_types");
  const auto up = c.get_string_list("up_block_types");
  if (down.size() != n) c.bad("down_block_types", cat("expected ", n, " entries (one per block_out_channels)"));
  if (up.size() != n) c.bad("up_block_types", cat("expected ", n, " entries (one per block_out_channels)"));
  for (const auto& t : down) {
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      c.bad("down_block_types", "block type '" + t + "' is not supported (CrossAttnDownBlock2D, DownBlock2D)");
    u.down_cross_attention.push_back(t == "CrossAttnDownBlock2D");
  }
  for (const auto& t : up) {
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      c.bad("up_block_types", "block type '" + t + "' is not supported (CrossAttnUpBlock2D, UpBlock2D)");
    u.up_cross_attention.push_back(t == "CrossAttnUpBlock2D");
  }
  const std::string mid = c.get_string("mid_block_type", "UNetMidBlock2DCrossAttn");
  if (mid != "UNetMidBlock2DCrossAttn") c.bad("mid_block_type", "'" + mid + "' is not supported (UNetMidBlock2DCrossAttn)");

  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
  const std::string heads_key = c.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
  u.heads = c.get_int_or_list(heads_key, n, 8);
  u.cross_attention_dim = c.get_int_or_list("cross_attention_dim", n, 1280);
  for (size_t i = 1; i < n; ++i)
    if (u.cross_attention_dim[i] != u.cross_attention_dim[0])
      c.bad("cross_attention_dim", "per-level values that differ are not supported");
  u.transformer_layers = c.get_int_or_list("transformer_layers_per_block", n, 1);
  u.norm_num_groups = c.get_int("norm_num_groups", 32);
  u.norm_eps = static_cast<float>(c.get_number("norm_eps", 1e-5));
  u.flip_sin_to_cos = c.get_bool("flip_sin_to_cos", true);
  u.freq_shift = static_cast<float>(c.get_number("freq_shift", 0));
  u.upcast_attention = c.get_bool("upcast_attention", false);
  u.sample_size = c.get_int("sample_size", 64);

  // Bounds far above any SD model (1280 channels, sample_size 96) and far
  // below where the sizes derived from them (time_embed_dim, the native image
  // side) overflow; fuzz/fuzz_model_config trips on both, and on 0 groups.
  constexpr int64_t kMaxChannels = int64_t{1} << 16, kMaxSampleSize = int64_t{1} << 16;
  if (u.norm_num_groups <= 0) c.bad("norm_num_groups", "must be positive");
  if (u.sample_size <= 0 || u.sample_size > kMaxSampleSize)
    c.bad("sample_size", cat("expected 1..", kMaxSampleSize, " (latent pixels)"));
  for (size_t i = 0; i < n; ++i) {
    if (u.block_out_channels[i] <= 0 || u.block_out_channels[i] > kMaxChannels ||
        u.block_out_channels[i] % u.norm_num_groups != 0)
      c.bad("block_out_channels", cat("each entry must be a multiple of norm_num_groups (", u.norm_num_groups,
                                      ") in 1..", kMaxChannels));
    if (u.layers_per_block[i] <= 0) c.bad("layers_per_block", "must be positive");
    if (u.heads[i] <= 0 || u.block_out_channels[i] % u.heads[i] != 0)
      c.bad(heads_key, cat("level ", i, ": ", u.block_out_channels[i], " channels do not divide into ", u.heads[i],
                           " heads"));
  }

  // Fields whose non-default values change the network in ways not built here.
  c.require_one_of("act_fn", {"silu"});
  c.require_one_of("time_embedding_type", {"positional"});
  c.require_one_of("class_embed_type", {nullptr});
  c.require_one_of("addition_embed_type", {nullptr, "text_time"});
  if (c.has("addition_embed_type") && c.get_string("addition_embed_type", "") == "text_time") {
    u.addition_time_embed_dim = c.get_int("addition_time_embed_dim");
    u.projection_class_embeddings_input_dim = c.get_int("projection_class_embeddings_input_dim");
    if (u.addition_time_embed_dim <= 0 || u.addition_time_embed_dim > kMaxChannels)
      c.bad("addition_time_embed_dim", cat("expected 1..", kMaxChannels));
    if (u.projection_class_embeddings_input_dim <= (UNetConfig::kTimeIds - 1) * u.addition_time_embed_dim ||
        u.projection_class_embeddings_input_dim > kMaxChannels)
      c.bad("projection_class_embeddings_input_dim",
            cat("expected the pooled text width plus 5 or 6 time ids x addition_time_embed_dim (",
                UNetConfig::kTimeIds * u.addition_time_embed_dim, "), at most ", kMaxChannels));
  }
  c.require_one_of("encoder_hid_dim", {nullptr});
  c.require_one_of("time_cond_proj_dim", {nullptr});
  c.require_one_of("resnet_time_scale_shift", {"default"});
  c.require_one_of("only_cross_attention", {false});
  c.require_one_of("dual_cross_attention", {false});
  c.require_one_of("center_input_sample", {false});
  c.require_one_of("conv_in_kernel", {3});
  c.require_one_of("conv_out_kernel", {3});
  c.require_one_of("downsample_padding", {1});
  c.require_one_of("mid_block_scale_factor", {1, 1.0});
  c.require_one_of("attention_type", {"default"});
  c.require_one_of("timestep_post_act", {nullptr});
  c.require_one_of("time_embedding_dim", {nullptr});
  c.require_one_of("time_embedding_act_fn", {nullptr});
  c.require_one_of("cross_attention_norm", {nullptr});
  c.require_one_of("resnet_skip_time_act", {false});
  c.require_one_of("resnet_out_scale_factor", {1, 1.0});
  c.require_one_of("reverse_transformer_layers_per_block", {nullptr});
  c.require_one_of("mid_block_only_cross_attention", {nullptr, false});
  c.require_one_of("num_class_embeds", {nullptr});
  c.require_one_of("class_embeddings_concat", {false});
  if (!u.text_time()) {
    c.require_one_of("projection_class_embeddings_input_dim", {nullptr});
    c.require_one_of("addition_time_embed_dim", {nullptr});
  }
  return u;
}

}  // namespace farm::model
