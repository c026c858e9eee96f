#include "partition/dit_costs.h"

#include <algorithm>

#include "farm/core/error.h"
#include "partition/block_costs.h"

namespace farm::partition {
namespace {

int64_t padded(int64_t n) { return (n + 31) / 32 * 32; }  // both streams pad to a multiple of 32

// A transformer block over n tokens (per row): linears and attention.
double block_flops(const model::ZImageDitConfig& c, int64_t n) {
  const double D = static_cast<double>(c.dim), F = static_cast<double>(c.ffn_dim()), N = static_cast<double>(n);
  return 2 * N * (4 * D * D + 3 * D * F) + 4 * N * N * D + 2 * static_cast<double>(c.adaln_dim()) * 4 * D;
}

// Elements a block holds while it runs (per row): its input and residual, q, k,
// v, attention out, the FFN's [gate | up] and product, the modulation chunks.
double block_work(const model::ZImageDitConfig& c, int64_t n) {
  return static_cast<double>(n) * static_cast<double>(6 * c.dim + 3 * c.ffn_dim());
}

double qwen3_layer_flops(const model::Qwen3Config& c, int64_t len) {
  const double L = static_cast<double>(len), D = static_cast<double>(c.hidden_size);
  const double q = static_cast<double>(c.heads * c.head_dim), kv = static_cast<double>(c.kv_heads * c.head_dim);
  const double I = static_cast<double>(c.intermediate_size);
  return 2 * L * (D * q + 2 * D * kv + q * D + 3 * D * I) + 4 * L * L * q;
}

}  // namespace

ModelCosts estimate_dit_costs(const ModelShape& m, const Workload& w, const DeviceProfile& d) {
  FARM_ASSERT(m.dit && m.qwen3, "estimate_dit_costs without a DiT");
  FARM_ASSERT(w.latent_h > 0 && w.latent_w > 0 && w.items > 0 && w.steps > 0 && w.text_len > 0, "workload");
  const auto& c = *m.dit;
  const model::ZImageDit dit(c);  // descriptions only: no weights
  const double rows = static_cast<double>(w.rows()), eb = d.element_bytes;
  const int64_t ni = padded((w.latent_h / c.patch) * (w.latent_w / c.patch)), nc = padded(w.text_len), n = ni + nc;
  const double D = static_cast<double>(c.dim), adaln_bytes = rows * static_cast<double>(c.adaln_dim()) * eb;

  ModelCosts mc;
  mc.workload = w;
  mc.device = d;
  const size_t nb = dit.blocks().size();
  // The state after each block: the adaLN input and both streams, or the unified sequence.
  const double state_bytes = rows * static_cast<double>(n) * D * eb + adaln_bytes;
  const double latents_bytes = static_cast<double>(w.items * w.latent_h * w.latent_w * c.in_channels) * 4;
  mc.cut_hidden.assign(nb + 1, {});
  mc.hidden_msg_bytes.assign(nb + 1, 0);
  mc.relayed_cut_bytes.assign(nb + 1, 0);
  for (size_t i = 1; i < nb; ++i) {
    mc.cut_hidden[i] = {.pushed_by = i - 1, .popped_by = i, .rows = w.rows(), .h = 1, .w = n, .c = c.dim,
                        .bytes = state_bytes};
    mc.hidden_msg_bytes[i] = mc.relayed_cut_bytes[i] = state_bytes + rows * 2 * 4;  // + the token grid (host fp32)
  }
  mc.cut_hidden[0] = mc.cut_hidden[nb] = {.pushed_by = nb - 1, .popped_by = 0, .rows = w.items, .h = w.latent_h,
                                          .w = w.latent_w, .c = c.in_channels, .bytes = latents_bytes};
  mc.hidden_msg_bytes[0] = mc.hidden_msg_bytes[nb] = mc.relayed_cut_bytes[0] = mc.relayed_cut_bytes[nb] = latents_bytes;

  const double caption_bytes = rows * static_cast<double>(w.text_len * c.cap_feat_dim) * eb;  // held on stage 0
  for (size_t i = 0; i < nb; ++i) {
    const auto& b = dit.blocks()[i];
    BlockCost bc;
    bc.name = b.name;
    bc.kind_name = model::block_kind_name(b.kind);
    bc.params = dit.block_params(i);
    bc.weight_bytes = static_cast<double>(bc.params) * eb;
    bc.out_bytes = state_bytes;
    double flops = 0, work = 0;
    switch (b.kind) {
      case model::DitBlockKind::embed:
        flops = 2.0 * static_cast<double>(ni * c.patch_dim() + nc * c.cap_feat_dim) * D;
        work = static_cast<double>(ni + nc) * D + static_cast<double>(nc * c.cap_feat_dim);
        break;
      case model::DitBlockKind::noise_refiner: flops = block_flops(c, ni), work = block_work(c, ni); break;
      case model::DitBlockKind::context_refiner: flops = block_flops(c, nc), work = block_work(c, nc); break;
      case model::DitBlockKind::layer: flops = block_flops(c, n), work = block_work(c, n); break;
      case model::DitBlockKind::final_layer:
        flops = 2.0 * static_cast<double>(n) * D * static_cast<double>(c.patch_dim());
        work = static_cast<double>(n) * D;
        break;
    }
    bc.flops = rows * flops;
    // Rows run one after another: one row's working set beside every row's state.
    bc.peak_bytes = work * eb + state_bytes + (b.kind == model::DitBlockKind::embed ? caption_bytes : 0);
    bc.seconds = bc.flops / d.flops;
    mc.blocks.push_back(std::move(bc));
  }

  // The Qwen3 encoder's list (per micro-batch: every row's prompt) and the VAE's (every item).
  const model::Qwen3TextEncoder enc(*m.qwen3, m.qwen3->layers - 1);
  PartCosts text;
  text.part = model::ModelPart::text_encoder;
  for (size_t i = 0; i < enc.blocks().size(); ++i) {
    const auto& b = enc.blocks()[i];
    BlockCost bc;
    bc.name = b.name;
    bc.kind_name = b.kind == model::Qwen3BlockKind::layer ? "layer" : b.kind == model::Qwen3BlockKind::norm ? "norm"
                                                                                                              : "embeddings";
    bc.params = enc.block_params(i);
    bc.weight_bytes = static_cast<double>(bc.params) * eb;
    bc.flops = b.kind == model::Qwen3BlockKind::layer ? rows * qwen3_layer_flops(*m.qwen3, w.text_len) : 0;
    bc.seconds = bc.flops / d.flops;
    text.blocks.push_back(std::move(bc));
    text.runs.push_back(true);
  }
  mc.parts.push_back(std::move(text));
  mc.parts.push_back(vae_part_costs(m.vae, w, d));
  sum_part_costs(mc, m.vae);
  const double hd = static_cast<double>(m.qwen3->hidden_size), len = static_cast<double>(w.text_len);
  mc.text_peak_bytes = rows * len * (4 * hd + 2 * static_cast<double>(m.qwen3->intermediate_size)) * eb + caption_bytes;
  return mc;
}

}  // namespace farm::partition
