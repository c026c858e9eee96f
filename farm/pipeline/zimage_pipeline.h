// Z-Image text-to-image, as diffusers' ZImagePipeline runs it: each prompt in
// Qwen3's chat template through the Qwen3 encoder (hidden_states[-2], real
// tokens only), latents randn [1, 16, 2·(H/16), 2·(W/16)] from the item's
// CPU generator, flow-matching Euler (steps = DiT evaluations), the DiT fed
// t = (1000 − timestep) / 1000 and its output negated, CFG when guidance > 0
// as pos + g·(pos − neg) (so Z-Image's g is SD's g − 1; the negative prompt
// defaults to "", still templated), then the VAE on z / scaling_factor +
// shift_factor.
//
// ZImageLoop is one micro-batch's sampling state between DiT passes; the
// single-process pipeline below and the ring's DiT stages (zimage_ring.h)
// both drive it, so an image is computed by the same code whatever the layout.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "farm/model/qwen3_text.h"
#include "farm/model/vae_decoder.h"
#include "farm/model/zimage_dit.h"
#include "farm/rng/torch_generator.h"
#include "farm/sched/flow_euler.h"
#include "farm/text/qwen_tokenizer.h"

namespace farm::pipeline {

// Which parts of a Z-Image model a rank loads (a pipeline stage's share).
struct ZImageParts {
  bool text_encoder = true, vae = true;
  size_t dit_begin = 0, dit_end = SIZE_MAX;  // clamped to the block count
  bool random_weights = false;               // benchmarks on config-only folders
  uint64_t seed = 0;
};

struct ZImageModel {
  std::string dir, name;
  std::unique_ptr<text::QwenTokenizer> tokenizer;  // null in a config-only folder (--random-weights)
  std::unique_ptr<model::Qwen3TextEncoder> text_encoder;
  std::unique_ptr<model::ZImageDit> transformer;
  std::unique_ptr<model::VaeDecoder> vae;
  sched::FlowMatchConfig scheduler;
  size_t weight_bytes = 0;  // as stored; 0 with random weights

  // A diffusers ZImagePipeline folder: every config read and checked against
  // the others, and the tokenizer; no weights.
  static ZImageModel open(const std::string& dir);
  // Reads the parts' weights and places them on `be`.
  void load_weights(kernels::Backend& be, const ZImageParts& parts = {});
  // open + load_weights: the whole model.
  static ZImageModel load(const std::string& dir, kernels::Backend& be);
  // Image sides must be multiples of this (2 · the VAE's scale: 16 for Z-Image).
  int64_t size_multiple() const { return 2 * vae->config().scale_factor(); }
  // The Qwen3 ids of a prompt (chat template, cut at 512); fails without a tokenizer.
  std::vector<int64_t> prompt_ids(const std::string& prompt) const;
};

// Whether `path` is a ZImagePipeline folder (model_index.json's _class_name).
bool is_zimage_folder(const std::string& path);

struct ZImageRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // none: "" (diffusers' default)
  uint64_t seed = 0;
  int steps = 8;
  double guidance = 0.0;  // Turbo's; > 0 enables CFG
  int64_t width = 1024, height = 1024;
};

// Errors (farm::Error) for sizes the model cannot take, before any compute.
void check_request(const ZImageModel& m, const ZImageRequest& r);

// One micro-batch of requests of one size and step count. Rows: each item's
// prompt, then (guidance > 0) its negative prompt, item by item.
class ZImageLoop {
 public:
  ZImageLoop(const ZImageModel& m, std::vector<ZImageRequest> batch,
             const sched::FlowMatchConfig* scheduler = nullptr);
  int steps() const { return steps_; }
  int64_t items() const { return static_cast<int64_t>(batch_.size()); }
  int64_t rows() const { return static_cast<int64_t>(row_item_.size()); }
  int64_t row_item(int64_t row) const { return row_item_.at(static_cast<size_t>(row)); }
  const std::string& row_prompt(int64_t row) const { return row_prompt_.at(static_cast<size_t>(row)); }
  // The DiT's t at a step (1 − σ), and an item's latents [1, h, w, C] (host) now.
  float t(int step) const;
  Tensor item_latents(int64_t item) const;
  // Guidance, the negation and the sampler step from the DiT's outputs, one
  // host [1, h, w, C] per row.
  void advance(int step, const std::vector<Tensor>& row_out);
  const Tensor& latents() const { return x_; }  // host [items, h, w, C]

 private:
  std::vector<ZImageRequest> batch_;
  std::vector<int64_t> row_item_;
  std::vector<std::string> row_prompt_;
  std::vector<int64_t> uncond_row_;  // per item, -1 without guidance
  int64_t h_ = 0, w_ = 0, c_ = 0;
  int steps_ = 0;
  std::vector<std::unique_ptr<rng::TorchGenerator>> gens_;
  std::vector<std::unique_ptr<sched::Sampler>> samplers_;
  Tensor x_;
};

struct ZImageRun {
  std::vector<Tensor> step_latents;  // host NHWC [1, h, w, 16] after each step (when kept)
  Tensor latents;                    // the final ones
  Tensor image;                      // host [1, H, W, 3] in [0, 1]
};

ZImageRun zimage_txt2img(const ZImageModel& m, kernels::Backend& be, const ZImageRequest& r,
                         const sched::FlowMatchConfig* scheduler = nullptr, bool keep_steps = false);

}  // namespace farm::pipeline
