// Per-block costs of one micro-batch: FLOPs and seconds per denoising step,
// weight bytes, working memory, and the tensors the ring sends between stages
// (partition/stage_traffic.h turns them into each stage's messages).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/device_profile.h"
#include "partition/model_shape.h"

namespace farm::partition {

struct Workload {
  int64_t latent_h = 64, latent_w = 64;  // image size / VAE scale factor
  int64_t items = 1;                     // images per micro-batch
  bool guidance = true;                  // CFG doubles the UNet rows (cond + uncond) and the text encoder rows
  int steps = 20;
  int64_t text_len = 77;
  int64_t rows() const { return items * (guidance ? 2 : 1); }
};

struct BlockCost {
  std::string name;
  model::UNetBlockKind kind = model::UNetBlockKind::resnet;  // UNet blocks
  std::string kind_name{};  // any part's: "resnet", "layer", "attention", ... (model/block_list.h)
  double flops = 0;         // per micro-batch per denoising step (2·MACs), all rows
  double weight_bytes = 0;  // parameters × element_bytes
  double out_bytes = 0;     // hidden state after the block, all rows
  double peak_bytes = 0;    // working memory while it runs: its own tensors (block_costs.cpp) + the skip
                            // stack held past it + temb + context, all rows
  double seconds = 0;       // flops / device flops, or a calibrated measurement
  int64_t params = 0;
  bool reads_context = false;  // cross-attention: its stage needs the micro-batch's text context
};

// A tensor the ring sends: a skip tensor (pushed_by: the block that writes
// it, popped_by: the block that reads it), or the hidden state at a cut.
struct SkipTensor {
  size_t pushed_by = 0, popped_by = 0;  // block indices
  int64_t rows = 0, h = 0, w = 0, c = 0;
  double bytes = 0;
};

// A part's block list with its costs (model/block_list.h): per micro-batch
// for the text encoders (all rows) and the VAE decoder (all items). `runs`
// is false for a block a render loads but does not run (SDXL's first text
// encoder stops before its last layer and final layer norm).
struct PartCosts {
  model::ModelPart part = model::ModelPart::text_encoder;
  std::vector<BlockCost> blocks;
  std::vector<bool> runs;
};

struct ModelCosts {
  Workload workload;
  DeviceProfile device;
  std::vector<BlockCost> blocks;  // the UNet's, per denoising step
  // Every other part's list, in run order: the text encoder(s), then the VAE
  // decoder. text_* and vae_* below are their sums (what stage 0 and the last
  // stage carry); the partitioner and `farm plan` read them from here.
  std::vector<PartCosts> parts;
  std::vector<std::string> block_names() const;

  // The ring's tensors (farm/pipeline/ring_routes.h), payload bytes only —
  // message headers and the items' JSON are not counted. E = device.element_bytes.
  //  skips: every skip tensor in push order, the pushing block's output
  //    [rows, H, W, C] at E; sent once, straight from the stage that pushes
  //    it to the stage that pops it (not at all when that is the same stage).
  //  cut_hidden[i], i in [1, n): the hidden state [rows, H, W, C] at E after
  //    block i-1 (the latent when block i-1 is the time embedding);
  //    [0] = [n]: the next step's model input [rows, h, w, C_in], fp32.
  //  hidden_msg_bytes[i], i in [1, n): the "hidden" message of a cut before
  //    block i, every step: cut_hidden[i] + timesteps [rows] fp32 + temb
  //    [rows, time_embed_dim] at E once the time embedding has run;
  //    [0] = [n]: the "return" message, last stage -> stage 0 between steps:
  //    cut_hidden[0] (fp32, from the host sampler) + timesteps fp32.
  //  context_bytes: [rows, text_len, D] at E, in a "batch" message once per
  //    micro-batch from stage 0 to every later stage that reads it.
  std::vector<SkipTensor> skips;
  std::vector<SkipTensor> cut_hidden;
  std::vector<double> hidden_msg_bytes;
  double context_bytes = 0;
  // The earlier ring relayed the whole state through every cut at every step:
  // hidden + every skip pushed before i and popped at or after i + temb +
  // context + timesteps + kStateHeaderBytes ([0] = [n]: latent at E + context
  // + timesteps + header). Only for `farm plan`'s before/after comparison;
  // nothing is planned on it.
  std::vector<double> relayed_cut_bytes;

  double text_flops = 0, text_weight_bytes = 0, text_seconds = 0, text_peak_bytes = 0;  // per micro-batch, stage 0
  double vae_flops = 0, vae_weight_bytes = 0, vae_seconds = 0, vae_peak_bytes = 0;  // per micro-batch decode, last stage
  int vae_parts = 1;  // VaeDecoder::parts(): the ring runs a decode part by part between UNet passes
  int64_t text_params = 0, vae_params = 0;
  bool calibrated = false;

  // Replaces the FLOP-based seconds with measured ones (per micro-batch).
  void calibrate(const std::vector<double>& block_seconds, double text_seconds, double vae_seconds);
};

// Message framing the earlier ring's state messages carried (relayed_cut_bytes only).
inline constexpr double kStateHeaderBytes = 256;

ModelCosts estimate_costs(const ModelShape& m, const Workload& w, const DeviceProfile& d);

// Shared by every family's cost model: the VAE decoder's block list (all
// items), and the text_* / vae_* sums over `parts` (its runs only).
PartCosts vae_part_costs(const model::VaeConfig& vae, const Workload& w, const DeviceProfile& d);
void sum_part_costs(ModelCosts& mc, const model::VaeConfig& vae);

}  // namespace farm::partition
