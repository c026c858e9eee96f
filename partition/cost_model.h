// Per-block costs of one micro-batch: FLOPs and seconds per denoising step,
// weight bytes, working memory, and the bytes of micro-batch state that cross
// a stage cut (hidden state + skip tensors + embeddings).
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
  model::UNetBlockKind kind = model::UNetBlockKind::resnet;
  double flops = 0;         // per micro-batch per denoising step (2·MACs), all rows
  double weight_bytes = 0;  // parameters × element_bytes
  double out_bytes = 0;     // hidden state after the block, all rows
  double peak_bytes = 0;    // working memory while it runs: its own tensors (block_costs.cpp) + the skip
                            // stack held past it + temb + context, all rows
  double seconds = 0;       // flops / device flops, or a calibrated measurement
  int64_t params = 0;
};

// A tensor of the micro-batch state at a cut: a skip tensor, or the hidden
// state (pushed_by: the block that wrote it; popped_by: the next block).
struct SkipTensor {
  size_t pushed_by = 0, popped_by = 0;  // block indices
  int64_t rows = 0, h = 0, w = 0, c = 0;
  double bytes = 0;
};

struct ModelCosts {
  Workload workload;
  DeviceProfile device;
  std::vector<BlockCost> blocks;
  std::vector<std::string> block_names() const;
  // cut_bytes[i], i in [0, n]: bytes of micro-batch state crossing a cut
  // placed BEFORE block i: hidden state [rows, H, W, C] + every skip tensor
  // pushed before i and popped at or after i + temb [rows, time_embed_dim]
  // once the time embedding has run + context [rows, text_len, D] +
  // timesteps [rows] (fp32) + kStateHeaderBytes.
  // cut_bytes[0] = cut_bytes[n] = the ring's return edge: the next step's
  // model input [rows, h, w, C_in] + context + timesteps + header.
  std::vector<double> cut_bytes;
  std::vector<std::vector<SkipTensor>> cut_skips;  // [i]: the skip tensors inside cut_bytes[i]
  std::vector<SkipTensor> cut_hidden;              // [i]: the hidden state inside cut_bytes[i] ([0], [n]: the latent)
  double text_flops = 0, text_weight_bytes = 0, text_seconds = 0, text_peak_bytes = 0;  // per micro-batch, stage 0
  double vae_flops = 0, vae_weight_bytes = 0, vae_seconds = 0, vae_peak_bytes = 0;  // per micro-batch decode, last stage
  int vae_parts = 1;  // VaeDecoder::parts(): the ring runs a decode part by part between UNet passes
  int64_t text_params = 0, vae_params = 0;
  bool calibrated = false;

  // Replaces the FLOP-based seconds with measured ones (per micro-batch).
  void calibrate(const std::vector<double>& block_seconds, double text_seconds, double vae_seconds);
};

// Message framing the transport adds to each state (step, ids, shapes).
inline constexpr double kStateHeaderBytes = 256;

ModelCosts estimate_costs(const ModelShape& m, const Workload& w, const DeviceProfile& d);

}  // namespace farm::partition
