#include "farm/model/unet.h"

#include "farm/core/error.h"

namespace farm::model {

const char* block_kind_name(UNetBlockKind k) {
  switch (k) {
    case UNetBlockKind::time_embedding: return "time_embedding";
    case UNetBlockKind::conv_in: return "conv_in";
    case UNetBlockKind::resnet: return "resnet";
    case UNetBlockKind::transformer: return "transformer";
    case UNetBlockKind::downsample: return "downsample";
    case UNetBlockKind::upsample: return "upsample";
    case UNetBlockKind::conv_out: return "conv_out";
  }
  return "?";
}

// One block's weights; only the members of its kind are filled.
struct UNet::Weights {
  ResnetBlock resnet;
  Transformer2D transformer;
  Conv2d conv;
  GroupNorm norm;
  Linear linear_1, linear_2;
  Linear add_1, add_2;  // add_embedding (text_time)
};

Tensor default_time_ids(const UNetConfig& c, int64_t rows, int64_t height, int64_t width) {
  const int64_t n = c.time_ids;
  Tensor ids({rows, n});
  const float h = static_cast<float>(height), w = static_cast<float>(width);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = ids.ptr() + r * n;
    row[0] = h;
    row[1] = w;
    if (n == UNetConfig::kTimeIds) row[4] = h, row[5] = w;
    else row[4] = 6.0f;  // diffusers' default aesthetic_score
  }
  return ids;
}

std::vector<BlockRef> UNet::block_list() const {
  std::vector<BlockRef> r;
  for (const auto& d : descs_) r.push_back({ModelPart::unet, d.name, block_kind_name(d.kind)});
  return r;
}

UNet::~UNet() = default;

UNet::UNet(UNetConfig config) : config_(std::move(config)) {
  const auto& c = config_;
  const int n = c.levels();
  auto add = [&](UNetBlockDesc d) { descs_.push_back(std::move(d)); };
  // Skip-stack channel counts, to give up-path resnets their input width.
  std::vector<int64_t> stack;

  add({.name = "time_embedding", .kind = UNetBlockKind::time_embedding, .out_channels = c.time_embed_dim()});
  add({.name = "conv_in", .kind = UNetBlockKind::conv_in, .in_channels = c.in_channels,
       .out_channels = c.block_out_channels[0], .pushes_skip = true});
  stack.push_back(c.block_out_channels[0]);
  int64_t ch = c.block_out_channels[0];
  for (int i = 0; i < n; ++i) {
    const int64_t out = c.block_out_channels[i];
    for (int64_t j = 0; j < c.layers_per_block[i]; ++j) {
      const bool attn = c.down_cross_attention[i];
      const std::string p = cat("down_blocks.", i, ".");
      add({.name = cat(p, "resnets.", j), .kind = UNetBlockKind::resnet, .in_channels = ch, .out_channels = out,
           .level = i, .pushes_skip = !attn});
      if (attn)
        add({.name = cat(p, "attentions.", j), .kind = UNetBlockKind::transformer, .in_channels = out,
             .out_channels = out, .level = i, .pushes_skip = true, .heads = c.heads[i],
             .context_dim = c.cross_attention_dim[i], .layers = c.transformer_layers[i]});
      ch = out;
      stack.push_back(out);
    }
    if (i + 1 < n) {
      add({.name = cat("down_blocks.", i, ".downsamplers.0"), .kind = UNetBlockKind::downsample, .in_channels = ch,
           .out_channels = ch, .level = i, .pushes_skip = true});
      stack.push_back(ch);
    }
  }
  const int deep = n - 1;
  add({.name = "mid_block.resnets.0", .kind = UNetBlockKind::resnet, .in_channels = ch, .out_channels = ch,
       .level = deep});
  add({.name = "mid_block.attentions.0", .kind = UNetBlockKind::transformer, .in_channels = ch, .out_channels = ch,
       .level = deep, .heads = c.heads[deep], .context_dim = c.cross_attention_dim[deep],
       .layers = c.transformer_layers[deep]});
  add({.name = "mid_block.resnets.1", .kind = UNetBlockKind::resnet, .in_channels = ch, .out_channels = ch,
       .level = deep});
  for (int i = 0; i < n; ++i) {
    const int lvl = n - 1 - i;  // up block i works at the resolution of down level n-1-i
    const int64_t out = c.block_out_channels[lvl];
    const std::string p = cat("up_blocks.", i, ".");
    for (int64_t j = 0; j < c.layers_per_block[lvl] + 1; ++j) {
      FARM_ASSERT(!stack.empty(), "skip stack underflow");
      const int64_t skip = stack.back();
      stack.pop_back();
      add({.name = cat(p, "resnets.", j), .kind = UNetBlockKind::resnet, .in_channels = ch + skip,
           .out_channels = out, .level = lvl, .pops_skip = true, .skip_channels = skip});
      if (c.up_cross_attention[i])
        add({.name = cat(p, "attentions.", j), .kind = UNetBlockKind::transformer, .in_channels = out,
             .out_channels = out, .level = lvl, .heads = c.heads[lvl], .context_dim = c.cross_attention_dim[lvl],
             .layers = c.transformer_layers[lvl]});
      ch = out;
    }
    if (i + 1 < n)
      add({.name = p + "upsamplers.0", .kind = UNetBlockKind::upsample, .in_channels = ch, .out_channels = ch,
           .level = lvl});
  }
  FARM_ASSERT(stack.empty(), "skip stack not empty at the end of the up path");
  add({.name = "conv_out", .kind = UNetBlockKind::conv_out, .in_channels = ch, .out_channels = c.out_channels});
  weights_.resize(descs_.size());
}

void UNet::load(const WeightLoader& w, size_t begin, size_t end) {
  const auto& c = config_;
  for (size_t i = begin; i < end; ++i) {
    const auto& d = descs_[i];
    auto wt = std::make_unique<Weights>();
    switch (d.kind) {
      case UNetBlockKind::time_embedding:
        wt->linear_1.load(w, "time_embedding.linear_1", c.block_out_channels[0], c.time_embed_dim());
        wt->linear_2.load(w, "time_embedding.linear_2", c.time_embed_dim(), c.time_embed_dim());
        if (c.text_time()) {
          wt->add_1.load(w, "add_embedding.linear_1", c.projection_class_embeddings_input_dim, c.time_embed_dim());
          wt->add_2.load(w, "add_embedding.linear_2", c.time_embed_dim(), c.time_embed_dim());
        }
        break;
      case UNetBlockKind::conv_in: wt->conv.load(w, "conv_in", d.in_channels, d.out_channels, 3); break;
      case UNetBlockKind::resnet:
        wt->resnet.load(w, d.name, d.in_channels, d.out_channels, c.time_embed_dim(), c.norm_num_groups, c.norm_eps);
        break;
      case UNetBlockKind::transformer:
        wt->transformer.load(w, d.name, d.in_channels, d.context_dim, d.heads, d.layers, c.norm_num_groups);
        break;
      case UNetBlockKind::downsample: wt->conv.load(w, d.name + ".conv", d.in_channels, d.out_channels, 3, 2); break;
      case UNetBlockKind::upsample: wt->conv.load(w, d.name + ".conv", d.in_channels, d.out_channels, 3); break;
      case UNetBlockKind::conv_out:
        wt->norm.load(w, "conv_norm_out", d.in_channels, c.norm_num_groups, c.norm_eps);
        wt->conv.load(w, "conv_out", d.in_channels, d.out_channels, 3);
        break;
    }
    weights_[i] = std::move(wt);
  }
}

void UNet::run_block(Backend& be, size_t i, UNetState& s) const {
  const auto& d = descs_[i];
  FARM_ASSERT(weights_[i], "block ", d.name, " run without its weights loaded");
  const Weights& wt = *weights_[i];
  const auto& c = config_;
  switch (d.kind) {
    case UNetBlockKind::time_embedding: {
      const int64_t B = s.timesteps.size(), C0 = c.block_out_channels[0];
      Tensor t_emb = be.empty({B, C0});
      be.timestep_embedding(s.timesteps, C0, c.flip_sin_to_cos, c.freq_shift, 10000.0f, t_emb);
      Tensor h = wt.linear_1.forward(be, t_emb);
      be.activation(kernels::Activation::silu, h, h);
      s.temb = wt.linear_2.forward(be, h);  // [B, 4·C0]
      if (!c.text_time()) return;
      // diffusers' text_time: add_embedding([text_embeds, sinusoids(time_ids)]) added to the time embedding.
      const int64_t A = c.addition_time_embed_dim, P = c.text_embeds_dim(), N = c.time_ids;
      FARM_ASSERT(s.text_embeds.defined() && s.time_ids.defined(), "time_embedding: the UNet takes added "
                  "conditioning (text_embeds, time_ids) and was given none");
      FARM_ASSERT(s.text_embeds.shape == Shape({B, P}) && s.time_ids.shape == Shape({B, N}), "time_embedding: ",
                  "text_embeds ", shape_str(s.text_embeds.shape), ", time_ids ", shape_str(s.time_ids.shape),
                  " for batch ", B, " (expected [", B, ", ", P, "], [", B, ", ", N, "])");
      Tensor ids = s.time_ids;
      Tensor id_emb = be.empty({B * N, A});
      be.timestep_embedding(std::move(ids).reshaped({B * N}), A, c.flip_sin_to_cos, c.freq_shift, 10000.0f, id_emb);
      Tensor text = s.text_embeds;
      Tensor add = be.empty({B, 1, 1, P + N * A});
      be.concat_channels(std::move(text).reshaped({B, 1, 1, P}), std::move(id_emb).reshaped({B, 1, 1, N * A}), add);
      Tensor a = wt.add_1.forward(be, std::move(add).reshaped({B, P + N * A}));
      be.activation(kernels::Activation::silu, a, a);
      s.temb = wt.add_2.forward(be, a, &s.temb);
      return;
    }
    case UNetBlockKind::conv_in:
      s.latent_h = s.h.dim(1), s.latent_w = s.h.dim(2);
      s.h = wt.conv.forward(be, s.h);
      break;
    case UNetBlockKind::resnet:
      if (d.pops_skip) {
        FARM_ASSERT(!s.skips.empty(), d.name, ": skip stack is empty");
        Tensor skip = std::move(s.skips.back());
        s.skips.pop_back();
        const int64_t B = s.h.dim(0), H = s.h.dim(1), W = s.h.dim(2), ca = s.h.dim(3), cb = skip.dim(3);
        FARM_ASSERT(skip.dim(1) == H && skip.dim(2) == W, d.name, ": skip ", shape_str(skip.shape), " vs ",
                    shape_str(s.h.shape));
        Tensor cat_h = be.empty({B, H, W, ca + cb});
        be.concat_channels(s.h, skip, cat_h);
        s.h = wt.resnet.forward(be, std::move(cat_h), &s.temb);
      } else {
        s.h = wt.resnet.forward(be, s.h, &s.temb);
      }
      break;
    case UNetBlockKind::transformer: s.h = wt.transformer.forward(be, s.h, s.context); break;
    case UNetBlockKind::downsample: s.h = wt.conv.forward(be, s.h); break;
    case UNetBlockKind::upsample: {
      // Upsample to the size of the skip the next resnet pops (diffusers'
      // forward_upsample_size), which is 2× unless the latent size is odd:
      // the size of level d.level - 1, each level ceil(half) the one above
      // (3×3 stride-2 convs, pad 1). From the latent size, not from the skip
      // stack: that skip may live on a later stage, another one on top here.
      FARM_ASSERT(s.latent_h > 0 && s.latent_w > 0, d.name, ": the latent size is unknown (conv_in sets it)");
      int64_t th = s.latent_h, tw = s.latent_w;
      for (int l = 0; l < d.level - 1; ++l) th = (th + 1) / 2, tw = (tw + 1) / 2;
      if (th == 2 * s.h.dim(1) && tw == 2 * s.h.dim(2)) {
        s.h = wt.conv.forward_upsampled2x(be, s.h);
        break;
      }
      Tensor up = be.empty({s.h.dim(0), th, tw, s.h.dim(3)});
      be.upsample_nearest(s.h, up);
      s.h = wt.conv.forward(be, up);
      break;
    }
    case UNetBlockKind::conv_out: s.h = wt.conv.forward(be, wt.norm.forward(be, s.h, true)); break;
  }
  if (d.pushes_skip) s.skips.push_back(s.h);
}

void UNet::run(Backend& be, UNetState& s, size_t begin, size_t end) const {
  FARM_ASSERT(begin <= end && end <= descs_.size(), "block range ", begin, "..", end);
  // A state from the sampler or from another rank arrives on the host. Timesteps
  // stay there: the embedding op reads them as fp32. Tensors already where the
  // backend computes stay as they are (on a host backend to_backend would copy
  // every skip tensor at each call).
  auto place = [&](Tensor& t) {
    if (t.defined() && t.device != be.device()) t = be.to_backend(t);
  };
  place(s.h);
  place(s.temb);
  place(s.context);
  place(s.text_embeds);
  for (auto& k : s.skips) place(k);
  for (size_t i = begin; i < end; ++i) run_block(be, i, s);
}

Tensor UNet::forward(Backend& be, Tensor sample, Tensor timesteps, Tensor context, Tensor text_embeds,
                    Tensor time_ids) const {
  UNetState s;
  s.h = std::move(sample);
  s.timesteps = std::move(timesteps);
  s.context = std::move(context);
  s.text_embeds = std::move(text_embeds);
  s.time_ids = std::move(time_ids);
  run(be, s, 0, descs_.size());
  return be.to_host(s.h);
}

}  // namespace farm::model
