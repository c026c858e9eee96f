#include "farm/io/checkpoint_keys.h"

#include <charconv>

#include "farm/core/error.h"

namespace farm {
namespace {

constexpr const char* kUNet = "model.diffusion_model.";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// "a.b.c" -> {"a", "b", "c"}
std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> r;
  size_t b = 0;
  for (size_t e; (e = s.find('.', b)) != std::string::npos; b = e + 1) r.push_back(s.substr(b, e - b));
  r.push_back(s.substr(b));
  return r;
}

std::string join_from(const std::vector<std::string>& p, size_t from) {
  std::string r;
  for (size_t i = from; i < p.size(); ++i) r += (r.empty() ? "" : ".") + p[i];
  return r;
}

bool to_int(const std::string& s, int64_t& v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

// LDM ResBlock names -> diffusers ResnetBlock2D names.
std::string resnet_name(std::string rest) {
  for (const auto& [from, to] : {std::pair{"in_layers.0", "norm1"}, {"in_layers.2", "conv1"}, {"out_layers.0", "norm2"},
                                 {"out_layers.3", "conv2"}, {"emb_layers.1", "time_emb_proj"},
                                 {"skip_connection", "conv_shortcut"}})
    rest = replace_all(rest, from, to);
  return rest;
}

void map_unet(const SafetensorsFile& f, const LdmLayout& l, PartKeyMap& out) {
  const int n = static_cast<int>(l.layers_per_block.size());
  // input_blocks.<idx>.<sub> and output_blocks.<idx>.<sub> -> diffusers module prefixes.
  std::map<std::pair<int64_t, int64_t>, std::string> in, up;
  int64_t idx = 1;
  for (int i = 0; i < n; ++i) {
    for (int64_t j = 0; j < l.layers_per_block[i]; ++j, ++idx) {
      in[{idx, 0}] = cat("down_blocks.", i, ".resnets.", j);
      in[{idx, 1}] = cat("down_blocks.", i, ".attentions.", j);
    }
    if (i + 1 < n) in[{idx++, 0}] = cat("down_blocks.", i, ".downsamplers.0");  // its ".op"
  }
  idx = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t count = l.layers_per_block[static_cast<size_t>(n - 1 - i)] + 1;
    for (int64_t j = 0; j < count; ++j, ++idx) {
      up[{idx, 0}] = cat("up_blocks.", i, ".resnets.", j);
      if (l.up_attention[static_cast<size_t>(i)]) up[{idx, 1}] = cat("up_blocks.", i, ".attentions.", j);
      if (j + 1 == count && i + 1 < n) up[{idx, l.up_attention[static_cast<size_t>(i)] ? 2 : 1}] = cat("up_blocks.", i, ".upsamplers.0");
    }
  }
  const std::map<std::string, std::string> fixed = {
      {"time_embed.0", "time_embedding.linear_1"}, {"time_embed.2", "time_embedding.linear_2"},
      {"label_emb.0.0", "add_embedding.linear_1"}, {"label_emb.0.2", "add_embedding.linear_2"},
      {"input_blocks.0.0", "conv_in"},             {"out.0", "conv_norm_out"},
      {"out.2", "conv_out"}};
  for (const auto& [key, e] : f.entries()) {
    if (!starts_with(key, kUNet)) continue;
    const std::string k = key.substr(std::string(kUNet).size());
    const auto p = split_dots(k);
    const std::string leaf = p.back(), head = k.substr(0, k.size() - leaf.size() - 1);
    std::string name;
    if (const auto it = fixed.find(head); it != fixed.end()) {
      name = it->second + "." + leaf;
    } else if ((p[0] == "input_blocks" || p[0] == "output_blocks") && p.size() >= 4) {
      int64_t i = 0, sub = 0;
      if (!to_int(p[1], i) || !to_int(p[2], sub)) continue;
      const auto& table = p[0] == "input_blocks" ? in : up;
      const auto it = table.find({i, sub});
      if (it == table.end()) fail(f.path(), ": checkpoint key '", key, "' fits no block of the model's configs (",
                                  n, " levels, layers_per_block per level)");
      const std::string rest = join_from(p, 3);
      if (it->second.find(".resnets.") != std::string::npos) name = it->second + "." + resnet_name(rest);
      else if (it->second.find("samplers.") != std::string::npos) name = it->second + ".conv." + leaf;  // op.* / conv.*
      else name = it->second + "." + rest;
    } else if (p[0] == "middle_block" && p.size() >= 3) {
      const std::string rest = join_from(p, 2);
      if (p[1] == "0") name = "mid_block.resnets.0." + resnet_name(rest);
      else if (p[1] == "1") name = "mid_block.attentions.0." + rest;
      else if (p[1] == "2") name = "mid_block.resnets.1." + resnet_name(rest);
    }
    if (!name.empty()) out[name] = {key};
  }
}

void map_vae_decoder(const SafetensorsFile& f, const std::string& prefix, const LdmLayout& l, PartKeyMap& out) {
  for (const auto& [key, e] : f.entries()) {
    if (!starts_with(key, prefix)) continue;
    const std::string k = key.substr(prefix.size());
    if (starts_with(k, "post_quant_conv.")) {
      out[k] = {key};
      continue;
    }
    if (!starts_with(k, "decoder.")) continue;  // the encoder and quant_conv: farm never encodes
    auto p = split_dots(k);
    std::string name;
    if (p[1] == "up" && p.size() >= 5) {
      int64_t b = 0;
      if (!to_int(p[2], b) || b >= l.vae_levels) continue;
      const int64_t i = l.vae_levels - 1 - b;  // LDM counts up blocks from the top level
      if (p[3] == "block") name = cat("decoder.up_blocks.", i, ".resnets.", p[4], ".", join_from(p, 5));
      else if (p[3] == "upsample") name = cat("decoder.up_blocks.", i, ".upsamplers.0.", join_from(p, 4));
    } else if (p[1] == "mid" && p.size() >= 4) {
      if (p[2] == "block_1" || p[2] == "block_2")
        name = cat("decoder.mid_block.resnets.", p[2] == "block_1" ? 0 : 1, ".", join_from(p, 3));
      else if (p[2] == "attn_1") {
        static const std::map<std::string, std::string> attn = {
            {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
        const auto it = attn.find(p[3]);
        if (it != attn.end()) name = "decoder.mid_block.attentions.0." + it->second + "." + join_from(p, 4);
      }
    } else {
      name = "decoder." + join_from(p, 1);
    }
    if (name.empty()) continue;
    name = replace_all(replace_all(name, "nin_shortcut", "conv_shortcut"), "decoder.norm_out.", "decoder.conv_norm_out.");
    out[name] = {key};  // the attention's 1x1 conv weights load as linear weights (Linear::load)
  }
}

// transformers' CLIPTextModel names under a prefix (SD 1.x, SDXL's first encoder).
void map_clip(const SafetensorsFile& f, const std::string& prefix, PartKeyMap& out) {
  for (const auto& [key, e] : f.entries())
    if (starts_with(key, prefix) && key.find("position_ids") == std::string::npos)
      out[key.substr(prefix.size())] = {key};
}

// OpenCLIP's text tower (SD 2.x, SDXL's second encoder): fused in_proj split
// into q, k, v; the first `layers` resblocks; the projection transposed.
void map_open_clip(const SafetensorsFile& f, const std::string& prefix, int64_t layers, bool projection,
                   PartKeyMap& out) {
  const std::string t = "text_model.";
  for (const auto& [key, e] : f.entries()) {
    if (!starts_with(key, prefix)) continue;
    const std::string k = key.substr(prefix.size());
    if (k == "token_embedding.weight") out[t + "embeddings.token_embedding.weight"] = {key};
    else if (k == "positional_embedding") out[t + "embeddings.position_embedding.weight"] = {key};
    else if (starts_with(k, "ln_final.")) out[t + "final_layer_norm." + k.substr(9)] = {key};
    else if (k == "text_projection" && projection) out["text_projection.weight"] = {key, 0, -1, true};
    else if (starts_with(k, "transformer.resblocks.")) {
      const auto p = split_dots(k);
      int64_t i = 0;
      if (p.size() < 5 || !to_int(p[2], i) || i >= layers) continue;
      const std::string l = cat(t, "encoder.layers.", i, ".");
      const std::string rest = join_from(p, 3);
      if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
        const int64_t d = e.shape.at(0) / 3;
        const std::string leaf = rest == "attn.in_proj_weight" ? "weight" : "bias";
        int64_t at = 0;
        for (const char* qkv : {"q_proj", "k_proj", "v_proj"}) out[cat(l, "self_attn.", qkv, ".", leaf)] = {key, at, d}, at += d;
        continue;
      }
      std::string name = rest;
      for (const auto& [from, to] : {std::pair{"ln_1", "layer_norm1"}, {"ln_2", "layer_norm2"}, {"mlp.c_fc", "mlp.fc1"},
                                     {"mlp.c_proj", "mlp.fc2"}, {"attn.out_proj", "self_attn.out_proj"}})
        name = replace_all(name, from, to);
      out[l + name] = {key};
    }
  }
}

// diffusers ResnetBlock2D names -> LDM ResBlock names.
std::string ldm_resnet_name(std::string rest) {
  for (const auto& [from, to] : {std::pair{"norm1", "in_layers.0"}, {"conv1", "in_layers.2"}, {"norm2", "out_layers.0"},
                                 {"conv2", "out_layers.3"}, {"time_emb_proj", "emb_layers.1"},
                                 {"conv_shortcut", "skip_connection"}})
    rest = replace_all(rest, from, to);
  return rest;
}

}  // namespace

std::string ldm_unet_module(const std::string& module, const LdmLayout& l) {
  static const std::map<std::string, std::string> fixed = {
      {"time_embedding.linear_1", "time_embed.0"}, {"time_embedding.linear_2", "time_embed.2"},
      {"add_embedding.linear_1", "label_emb.0.0"}, {"add_embedding.linear_2", "label_emb.0.2"},
      {"conv_in", "input_blocks.0.0"},             {"conv_norm_out", "out.0"},
      {"conv_out", "out.2"}};
  if (const auto it = fixed.find(module); it != fixed.end()) return it->second;
  const auto p = split_dots(module);
  const int n = static_cast<int>(l.layers_per_block.size());
  int64_t i = 0, j = 0;
  if (p.size() < 4 || !to_int(p[1], i) || i < 0 || i >= n) {
    if (p.size() >= 4 && p[0] == "mid_block" && to_int(p[2], j)) {
      const std::string rest = join_from(p, 3);
      if (p[1] == "resnets" && j <= 1) return cat("middle_block.", 2 * j, ".", ldm_resnet_name(rest));
      if (p[1] == "attentions" && j == 0) return "middle_block.1." + rest;
    }
    return "";
  }
  if (!to_int(p[3], j)) return "";
  const std::string rest = join_from(p, 4);
  if (p[0] == "down_blocks") {
    int64_t idx = 1;
    for (int k = 0; k < i; ++k) idx += l.layers_per_block[k] + (k + 1 < n ? 1 : 0);
    if (p[2] == "resnets") return cat("input_blocks.", idx + j, ".0.", ldm_resnet_name(rest));
    if (p[2] == "attentions") return cat("input_blocks.", idx + j, ".1.", rest);
    if (p[2] == "downsamplers" && rest == "conv") return cat("input_blocks.", idx + l.layers_per_block[i], ".0.op");
  } else if (p[0] == "up_blocks") {
    int64_t idx = 0;
    for (int k = 0; k < i; ++k) idx += l.layers_per_block[static_cast<size_t>(n - 1 - k)] + 1;
    const int64_t count = l.layers_per_block[static_cast<size_t>(n - 1 - i)] + 1;
    const bool attn = l.up_attention[static_cast<size_t>(i)];
    if (p[2] == "resnets") return cat("output_blocks.", idx + j, ".0.", ldm_resnet_name(rest));
    if (p[2] == "attentions") return cat("output_blocks.", idx + j, ".1.", rest);
    if (p[2] == "upsamplers" && rest == "conv") return cat("output_blocks.", idx + count - 1, ".", attn ? 2 : 1, ".conv");
  }
  return "";
}

const char* checkpoint_family_name(CheckpointFamily f) {
  switch (f) {
    case CheckpointFamily::sd1: return "SD 1.x";
    case CheckpointFamily::sd2: return "SD 2.x";
    case CheckpointFamily::sdxl: return "SDXL base";
    case CheckpointFamily::sdxl_refiner: return "SDXL refiner";
  }
  return "?";
}

CheckpointFamily detect_checkpoint_family(const SafetensorsFile& f) {
  const auto has = [&](const std::string& k) { return f.find(k) != nullptr; };
  const bool unet = has("model.diffusion_model.input_blocks.0.0.weight");
  if (unet && has("conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"))
    return CheckpointFamily::sdxl;
  if (unet && has("conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight"))
    return CheckpointFamily::sdxl_refiner;
  if (unet && has("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight")) return CheckpointFamily::sd2;
  if (unet && has("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"))
    return CheckpointFamily::sd1;
  std::string some;
  int shown = 0;
  for (const auto& [k, e] : f.entries()) {
    if (shown++ == 4) break;
    some += cat(shown > 1 ? ", " : "", "'", k, "'");
  }
  const bool diffusers = has("conv_in.weight") || has("down_blocks.0.resnets.0.conv1.weight");
  fail(f.path(), ": not a checkpoint layout farm knows (keys such as ", some.empty() ? "none" : some, "); expected ",
       "an original-layout SD 1.x, SD 2.x or SDXL single file (model.diffusion_model.*, first_stage_model.*, ",
       "cond_stage_model.* or conditioner.embedders.*)",
       diffusers ? "; this looks like one diffusers component: pass the diffusers folder holding it" : "");
}

std::map<std::string, PartKeyMap> map_checkpoint_keys(const SafetensorsFile& f, CheckpointFamily family,
                                                      const LdmLayout& layout) {
  std::map<std::string, PartKeyMap> m;
  map_unet(f, layout, m["unet"]);
  const bool vae_prefix = f.find("first_stage_model.decoder.conv_in.weight") != nullptr;
  map_vae_decoder(f, vae_prefix ? "first_stage_model." : "vae.", layout, m["vae"]);
  switch (family) {
    case CheckpointFamily::sd1: map_clip(f, "cond_stage_model.transformer.", m["text_encoder"]); break;
    case CheckpointFamily::sd2:
      map_open_clip(f, "cond_stage_model.model.", layout.text_layers, false, m["text_encoder"]);
      break;
    case CheckpointFamily::sdxl:
      map_clip(f, "conditioner.embedders.0.transformer.", m["text_encoder"]);
      map_open_clip(f, "conditioner.embedders.1.model.", layout.text2_layers, true, m["text_encoder_2"]);
      break;
    case CheckpointFamily::sdxl_refiner:
      map_open_clip(f, "conditioner.embedders.0.model.", layout.text2_layers, true, m["text_encoder_2"]);
      break;
  }
  return m;
}

}  // namespace farm
