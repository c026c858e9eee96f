#include "partition/cost_model.h"

#include <algorithm>

#include "farm/core/error.h"
#include "partition/block_costs.h"
#include "partition/dit_costs.h"

namespace farm::partition {

using model::UNetBlockKind;

std::vector<std::string> ModelCosts::block_names() const {
  std::vector<std::string> names;
  for (const auto& b : blocks) names.push_back(b.name);
  return names;
}

void ModelCosts::calibrate(const std::vector<double>& block_seconds, double text_s, double vae_s) {
  FARM_ASSERT(block_seconds.size() == blocks.size(), "calibrate: ", block_seconds.size(), " times for ",
              blocks.size(), " blocks");
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i].seconds = block_seconds[i];
  // Text and VAE are measured whole: their blocks keep the FLOP shares of it.
  for (auto& p : parts) {
    const bool text = p.part != model::ModelPart::vae;
    const double total = text ? text_seconds : vae_seconds, measured = text ? text_s : vae_s;
    for (auto& b : p.blocks) b.seconds = total > 0 ? b.seconds * measured / total : 0;
  }
  text_seconds = text_s;
  vae_seconds = vae_s;
  calibrated = true;
}

ModelCosts estimate_costs(const ModelShape& m, const Workload& w, const DeviceProfile& d) {
  if (m.dit) return estimate_dit_costs(m, w, d);
  FARM_ASSERT(w.latent_h > 0 && w.latent_w > 0 && w.items > 0 && w.steps > 0 && w.text_len > 0, "workload");
  FARM_ASSERT(d.flops > 0 && d.link_bytes_per_s > 0 && d.element_bytes > 0, "device profile ", d.name);
  const auto& c = m.unet;
  const auto& blocks = m.blocks;
  const size_t n = blocks.size();
  const double rows = static_cast<double>(w.rows()), eb = d.element_bytes;
  const auto hs = level_sizes(w.latent_h, c.levels()), ws = level_sizes(w.latent_w, c.levels());

  ModelCosts mc;
  mc.workload = w;
  mc.device = d;

  // Which block pops each pushed skip (the stack discipline of UNet::run).
  std::vector<size_t> popped_by(n, n), stack;
  for (size_t i = 0; i < n; ++i) {
    if (blocks[i].pops_skip) {
      FARM_ASSERT(!stack.empty(), "skip stack underflow at ", blocks[i].name);
      popped_by[stack.back()] = i;
      stack.pop_back();
    }
    if (blocks[i].pushes_skip) stack.push_back(i);
  }
  FARM_ASSERT(stack.empty(), "skip stack not empty after the last block");

  std::vector<BlockGeometry> geo(n);
  for (size_t i = 0; i < n; ++i) geo[i] = block_geometry(blocks[i], hs, ws);
  auto skip_of = [&](size_t j) {
    const auto& g = geo[j];
    SkipTensor s{.pushed_by = j, .popped_by = popped_by[j], .rows = w.rows(), .h = g.out_h, .w = g.out_w,
                 .c = blocks[j].out_channels};
    s.bytes = rows * static_cast<double>(s.h * s.w * s.c) * eb;
    return s;
  };
  const double context_bytes = rows * static_cast<double>(w.text_len * c.context_dim()) * eb;
  const double temb_bytes = rows * static_cast<double>(c.time_embed_dim()) * eb;
  const double timestep_bytes = rows * 4;  // fp32: fp16 cannot hold 999 - 0.5 steps exactly
  const double input_elems = rows * static_cast<double>(w.latent_h * w.latent_w * c.in_channels);
  const double input_bytes = input_elems * eb;
  mc.context_bytes = context_bytes;

  // Hidden state after each block; the time embedding leaves the latent in place.
  std::vector<double> hidden_after(n);
  mc.cut_hidden.assign(n + 1, {});
  SkipTensor hidden{.pushed_by = 0, .popped_by = 0, .rows = w.rows(), .h = w.latent_h, .w = w.latent_w,
                    .c = c.in_channels, .bytes = input_bytes};
  for (size_t i = 0; i < n; ++i) {
    if (blocks[i].kind != UNetBlockKind::time_embedding) {
      hidden = skip_of(i);
    }
    hidden.pushed_by = i;
    hidden.popped_by = i + 1;
    hidden_after[i] = hidden.bytes;
    mc.cut_hidden[i + 1] = hidden;
  }
  // The return carries the next step's model input as the host sampler made it: fp32.
  mc.cut_hidden[0] = mc.cut_hidden[n] = {.pushed_by = n - 1, .popped_by = 0, .rows = w.rows(), .h = w.latent_h,
                                         .w = w.latent_w, .c = c.in_channels, .bytes = input_elems * 4};

  for (size_t j = 0; j < n; ++j)
    if (blocks[j].pushes_skip) mc.skips.push_back(skip_of(j));

  // The ring's messages (cost_model.h): each skip travels alone, the context
  // once per micro-batch, so a cut's message holds the hidden state only.
  mc.hidden_msg_bytes.assign(n + 1, 0);
  mc.hidden_msg_bytes[0] = mc.hidden_msg_bytes[n] = mc.cut_hidden[0].bytes + timestep_bytes;
  bool temb = false;
  for (size_t i = 1; i < n; ++i) {
    temb = temb || blocks[i - 1].kind == UNetBlockKind::time_embedding;
    mc.hidden_msg_bytes[i] = mc.cut_hidden[i].bytes + timestep_bytes + (temb ? temb_bytes : 0);
  }

  // The earlier relaying ring, for the comparison only.
  mc.relayed_cut_bytes.assign(n + 1, 0);
  mc.relayed_cut_bytes[0] = mc.relayed_cut_bytes[n] =
      input_bytes + context_bytes + timestep_bytes + kStateHeaderBytes;
  temb = false;
  for (size_t i = 1; i < n; ++i) {
    temb = temb || blocks[i - 1].kind == UNetBlockKind::time_embedding;
    double bytes = hidden_after[i - 1] + context_bytes + timestep_bytes + kStateHeaderBytes + (temb ? temb_bytes : 0);
    for (const auto& k : mc.skips)
      if (k.pushed_by < i && k.popped_by >= i) bytes += k.bytes;
    mc.relayed_cut_bytes[i] = bytes;
  }

  for (size_t i = 0; i < n; ++i) {
    const auto& b = blocks[i];
    BlockCost bc;
    bc.name = b.name;
    bc.kind = b.kind;
    bc.kind_name = model::block_kind_name(b.kind);
    bc.params = unet_block_params(c, b);
    bc.reads_context = b.kind == UNetBlockKind::transformer && b.context_dim > 0;  // as ring_routes.cpp decides
    bc.flops = rows * unet_block_flops(c, b, geo[i], w.text_len);
    bc.weight_bytes = static_cast<double>(bc.params) * eb;
    bc.out_bytes = hidden_after[i];
    // Skips held past this block (pushed before it, popped after it); the one
    // a resnet pops is part of its own input.
    double held = 0;
    for (size_t j = 0; j < i; ++j)
      if (blocks[j].pushes_skip && popped_by[j] > i) held += skip_of(j).bytes;
    bc.peak_bytes = rows * unet_block_work_elems(c, b, geo[i], w.text_len) * eb + held + temb_bytes + context_bytes;
    bc.seconds = bc.flops / d.flops;
    mc.blocks.push_back(std::move(bc));
  }

  const double text_rows = rows;
  // The text encoders' lists. SDXL base reads its first encoder's penultimate
  // state (no last layer, no final layer norm); the second (or a refiner's
  // only one) runs whole: the pooled row needs the final layer norm.
  const auto text_part = [&](model::ModelPart part, const model::ClipTextConfig& tc, bool stops_early) {
    PartCosts pc;
    pc.part = part;
    const model::ClipTextEncoder enc(tc);
    for (const auto& b : enc.blocks()) {
      BlockCost bc;
      bc.name = b.name;
      bc.kind_name = model::block_kind_name(b.kind);
      bc.params = text_block_params(tc, b);
      bc.weight_bytes = static_cast<double>(bc.params) * eb;
      bc.flops = text_rows * text_block_flops(tc, b, w.text_len);
      bc.seconds = bc.flops / d.flops;
      const bool runs = !stops_early || (b.kind == model::TextBlockKind::embeddings ||
                                         (b.kind == model::TextBlockKind::layer && b.layer < tc.layers - 1));
      pc.blocks.push_back(std::move(bc));
      pc.runs.push_back(runs);
    }
    mc.parts.push_back(std::move(pc));
  };
  text_part(m.refiner ? model::ModelPart::text_encoder_2 : model::ModelPart::text_encoder, m.text, m.text_2.has_value());
  if (m.text_2) text_part(model::ModelPart::text_encoder_2, *m.text_2, false);
  mc.parts.push_back(vae_part_costs(m.vae, w, d));
  sum_part_costs(mc, m.vae);
  mc.text_peak_bytes = text_rows * text_encoder_work_elems(m.text, w.text_len) * eb;
  if (m.text_2)  // one encoder after the other
    mc.text_peak_bytes = std::max(mc.text_peak_bytes, text_rows * text_encoder_work_elems(*m.text_2, w.text_len) * eb);
  return mc;
}

PartCosts vae_part_costs(const model::VaeConfig& vae, const Workload& w, const DeviceProfile& d) {
  PartCosts pc;
  pc.part = model::ModelPart::vae;
  const model::VaeDecoder dec(vae);
  for (const auto& b : dec.blocks()) {
    BlockCost bc;
    bc.name = b.name;
    bc.kind_name = model::block_kind_name(b.kind);
    bc.params = vae_block_params(vae, b);
    bc.weight_bytes = static_cast<double>(bc.params) * d.element_bytes;
    bc.flops = static_cast<double>(w.items) * vae_block_flops(vae, b, w.latent_h, w.latent_w);
    bc.seconds = bc.flops / d.flops;
    pc.blocks.push_back(std::move(bc));
    pc.runs.push_back(true);
  }
  return pc;
}

void sum_part_costs(ModelCosts& mc, const model::VaeConfig& vae) {
  const double eb = mc.device.element_bytes;
  const auto& w = mc.workload;
  mc.text_params = mc.vae_params = 0;
  mc.text_flops = mc.vae_flops = 0;
  for (const auto& p : mc.parts) {
    const bool text = p.part != model::ModelPart::vae;
    for (size_t i = 0; i < p.blocks.size(); ++i) {
      (text ? mc.text_params : mc.vae_params) += p.blocks[i].params;
      if (p.runs[i]) (text ? mc.text_flops : mc.vae_flops) += p.blocks[i].flops;
    }
    if (!text) mc.vae_parts = static_cast<int>(p.blocks.size());  // the ring decodes block by block
  }
  mc.text_weight_bytes = static_cast<double>(mc.text_params) * eb;
  mc.text_seconds = mc.text_flops / mc.device.flops;
  mc.vae_weight_bytes = static_cast<double>(mc.vae_params) * eb;
  mc.vae_peak_bytes = static_cast<double>(w.items) * vae_decoder_work_elems(vae, w.latent_h, w.latent_w) * eb;
  mc.vae_seconds = mc.vae_flops / mc.device.flops;
}

}  // namespace farm::partition
