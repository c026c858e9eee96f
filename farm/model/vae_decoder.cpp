#include "farm/model/vae_decoder.h"

#include <cmath>

#include "farm/core/error.h"
#include "farm/io/json_config.h"

namespace farm::model {

namespace {
constexpr float kVaeEps = 1e-6f;  // diffusers builds every VAE norm with eps 1e-6
}

VaeConfig VaeConfig::load(const std::string& path) {
  const JsonConfig c = JsonConfig::load(path);
  VaeConfig v;
  v.latent_channels = c.get_int("latent_channels", 4);
  v.out_channels = c.get_int("out_channels", 3);
  v.block_out_channels = c.get_int_list("block_out_channels");
  v.layers_per_block = c.get_int("layers_per_block", 1);
  v.norm_num_groups = c.get_int("norm_num_groups", 32);
  v.scaling_factor = static_cast<float>(c.get_number("scaling_factor", 0.18215));
  v.use_post_quant_conv = c.get_bool("use_post_quant_conv", true);
  v.mid_block_add_attention = c.get_bool("mid_block_add_attention", true);
  v.force_upcast = c.get_bool("force_upcast", false);
  if (v.out_channels != 3) c.bad("out_channels", "expected 3 (RGB)");
  if (!(v.scaling_factor > 0)) c.bad("scaling_factor", "must be positive");
  // Each level past the first doubles the image side: scale_factor() is a
  // shift, so the level count is bounded (SD has 4). fuzz/fuzz_model_config
  // trips on more levels, and on 0 groups.
  constexpr size_t kMaxLevels = 16;
  if (v.block_out_channels.size() > kMaxLevels)
    c.bad("block_out_channels", cat("at most ", kMaxLevels, " levels, got ", v.block_out_channels.size()));
  if (v.norm_num_groups <= 0) c.bad("norm_num_groups", "must be positive");
  for (int64_t ch : v.block_out_channels)
    if (ch <= 0 || ch % v.norm_num_groups != 0)
      c.bad("block_out_channels", cat("each entry must be a positive multiple of norm_num_groups (",
                                      v.norm_num_groups, ")"));
  if (v.layers_per_block <= 0) c.bad("layers_per_block", "must be positive");
  if (c.has("up_block_types"))
    for (const auto& t : c.get_string_list("up_block_types"))
      if (t != "UpDecoderBlock2D") c.bad("up_block_types", "'" + t + "' is not supported (UpDecoderBlock2D)");
  c.require_one_of("act_fn", {"silu"});
  v.shift_factor = static_cast<float>(c.get_number("shift_factor", 0.0));
  if (!std::isfinite(v.shift_factor)) c.bad("shift_factor", "must be a finite number");
  c.require_one_of("latents_mean", {nullptr});
  c.require_one_of("latents_std", {nullptr});
  return v;
}

Tensor VaeConfig::decoder_input(const Tensor& latents) const {
  Tensor z = latents;
  for (float& v : z.data) v = v / scaling_factor + shift_factor;
  return z;
}

void VaeDecoder::load(const WeightLoader& w) {
  const auto& c = config_;
  const int64_t n = static_cast<int64_t>(c.block_out_channels.size());
  const int64_t top = c.block_out_channels.back(), g = c.norm_num_groups;
  if (c.use_post_quant_conv)
    post_quant_conv_.load(w, "post_quant_conv", c.latent_channels, c.latent_channels, 1);
  conv_in_.load(w, "decoder.conv_in", c.latent_channels, top, 3);
  mid_resnet0_.load(w, "decoder.mid_block.resnets.0", top, top, 0, g, kVaeEps);
  if (c.mid_block_add_attention) {
    mid_attn_norm_.load(w, "decoder.mid_block.attentions.0.group_norm", top, g, kVaeEps);
    mid_attn_.load(w, "decoder.mid_block.attentions.0", top, top, 1, top, true);
  }
  mid_resnet1_.load(w, "decoder.mid_block.resnets.1", top, top, 0, g, kVaeEps);
  up_.resize(static_cast<size_t>(n));
  int64_t ch = top;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t out = c.block_out_channels[n - 1 - i];
    auto& ub = up_[i];
    ub.resnets.resize(static_cast<size_t>(c.layers_per_block + 1));
    for (int64_t j = 0; j <= c.layers_per_block; ++j) {
      ub.resnets[j].load(w, cat("decoder.up_blocks.", i, ".resnets.", j), ch, out, 0, g, kVaeEps);
      ch = out;
    }
    if (i + 1 < n) ub.upsample.load(w, cat("decoder.up_blocks.", i, ".upsamplers.0.conv"), ch, ch, 3);
  }
  norm_out_.load(w, "decoder.conv_norm_out", ch, g, kVaeEps);
  conv_out_.load(w, "decoder.conv_out", ch, c.out_channels, 3);
}

const char* block_kind_name(VaeBlockKind k) {
  switch (k) {
    case VaeBlockKind::input: return "input";
    case VaeBlockKind::mid_resnet: return "resnet";
    case VaeBlockKind::mid_attention: return "attention";
    case VaeBlockKind::up_resnet: return "resnet";
    case VaeBlockKind::upsample: return "upsample";
    case VaeBlockKind::output: return "output";
  }
  return "?";
}

VaeDecoder::VaeDecoder(VaeConfig c) : config_(std::move(c)) {
  const auto& cfg = config_;
  const int n = static_cast<int>(cfg.block_out_channels.size());
  const int64_t top = cfg.block_out_channels.back();
  blocks_.push_back({VaeBlockKind::input, "decoder.conv_in", 0, 0, cfg.latent_channels, top, 0});
  blocks_.push_back({VaeBlockKind::mid_resnet, "decoder.mid_block.resnets.0", 0, 0, top, top, 0});
  if (cfg.mid_block_add_attention)
    blocks_.push_back({VaeBlockKind::mid_attention, "decoder.mid_block.attentions.0", 0, 0, top, top, 0});
  blocks_.push_back({VaeBlockKind::mid_resnet, "decoder.mid_block.resnets.1", 0, 1, top, top, 0});
  int64_t ch = top;
  for (int i = 0; i < n; ++i) {
    const int64_t out = cfg.block_out_channels[n - 1 - i];
    for (int j = 0; j <= cfg.layers_per_block; ++j) {
      blocks_.push_back({VaeBlockKind::up_resnet, cat("decoder.up_blocks.", i, ".resnets.", j), i, j, ch, out, i});
      ch = out;
    }
    if (i + 1 < n)
      blocks_.push_back({VaeBlockKind::upsample, cat("decoder.up_blocks.", i, ".upsamplers.0"), i, 0, ch, ch, i});
  }
  blocks_.push_back({VaeBlockKind::output, "decoder.conv_out", 0, 0, ch, cfg.out_channels, n - 1});
}

std::vector<BlockRef> VaeDecoder::block_list() const {
  std::vector<BlockRef> r;
  for (const auto& b : blocks_) r.push_back({ModelPart::vae, b.name, block_kind_name(b.kind)});
  return r;
}

void VaeDecoder::run(Backend& be, Tensor& h, size_t begin, size_t end) const {
  FARM_ASSERT(begin <= end && end <= blocks_.size(), "VAE block range ", begin, "..", end);
  for (size_t i = begin; i < end; ++i) run_block(be, blocks_[i], h);
}

void VaeDecoder::run_block(Backend& be, const VaeBlockDesc& p, Tensor& h) const {
  switch (p.kind) {
    case VaeBlockKind::input:
      h = be.to_backend(h);
      if (config_.use_post_quant_conv) h = post_quant_conv_.forward(be, h);
      h = conv_in_.forward(be, h);  // [B,h,w,top]
      return;
    case VaeBlockKind::mid_resnet:
      h = (p.layer == 0 ? mid_resnet0_ : mid_resnet1_).forward(be, std::move(h), nullptr);
      return;
    case VaeBlockKind::mid_attention: {
      const int64_t B = h.dim(0), H = h.dim(1), W = h.dim(2), C = h.dim(3);
      Tensor tokens = std::move(h).reshaped({B, H * W, C});
      const Tensor normed = mid_attn_norm_.forward(be, tokens, false);
      h = std::move(mid_attn_.forward(be, normed, nullptr, &tokens)).reshaped({B, H, W, C});
      return;
    }
    case VaeBlockKind::up_resnet:
      h = up_[static_cast<size_t>(p.block)].resnets[static_cast<size_t>(p.layer)].forward(be, std::move(h), nullptr);
      return;
    case VaeBlockKind::upsample: {
      h = up_[static_cast<size_t>(p.block)].upsample.forward_upsampled2x(be, h);
      return;
    }
    case VaeBlockKind::output: h = conv_out_.forward(be, norm_out_.forward(be, h, true)); return;  // [B,H,W,3]
  }
}

Tensor VaeDecoder::decode(Backend& be, const Tensor& latents) const {
  Tensor h = latents;
  run(be, h, 0, blocks_.size());
  return be.to_host(h);
}

}  // namespace farm::model
