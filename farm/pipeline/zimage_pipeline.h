// Z-Image text-to-image on one process, as diffusers' ZImagePipeline runs it:
// each prompt in Qwen3's chat template through the Qwen3 encoder
// (hidden_states[-2], real tokens only), latents randn [1, 16, 2·(H/16),
// 2·(W/16)] from the item's CPU generator, flow-matching Euler (steps = DiT
// evaluations), the DiT fed t = (1000 − timestep) / 1000 and its output
// negated, CFG when guidance > 0 as pos + g·(pos − neg) (so Z-Image's g is
// SD's g − 1; the negative prompt defaults to "", still templated), then the
// VAE on z / scaling_factor + shift_factor.
//
// The engine's model-family piece; the job layer and the ring take it up next.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "farm/model/qwen3_text.h"
#include "farm/model/vae_decoder.h"
#include "farm/model/zimage_dit.h"
#include "farm/sched/flow_euler.h"
#include "farm/text/qwen_tokenizer.h"

namespace farm::pipeline {

struct ZImageModel {
  std::string dir;
  std::unique_ptr<text::QwenTokenizer> tokenizer;
  std::unique_ptr<model::Qwen3TextEncoder> text_encoder;
  std::unique_ptr<model::ZImageDit> transformer;
  std::unique_ptr<model::VaeDecoder> vae;
  sched::FlowMatchConfig scheduler;

  // A diffusers ZImagePipeline folder; every config is read (and checked
  // against the others) before any weight.
  static ZImageModel load(const std::string& dir, kernels::Backend& be);
  // Image sides must be multiples of this (2 · the VAE's scale: 16 for Z-Image).
  int64_t size_multiple() const { return 2 * vae->config().scale_factor(); }
};

struct ZImageRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // none: "" (diffusers' default)
  uint64_t seed = 0;
  int steps = 8;
  double guidance = 0.0;  // Turbo's; > 0 enables CFG
  int64_t width = 1024, height = 1024;
};

struct ZImageRun {
  std::vector<Tensor> step_latents;  // host NHWC [1, h, w, 16] after each step (when kept)
  Tensor latents;                    // the final ones
  Tensor image;                      // host [1, H, W, 3] in [0, 1]
};

// Errors (farm::Error) for sizes the model cannot take, before any compute.
void check_request(const ZImageModel& m, const ZImageRequest& r);

ZImageRun zimage_txt2img(const ZImageModel& m, kernels::Backend& be, const ZImageRequest& r,
                         const sched::FlowMatchConfig* scheduler = nullptr, bool keep_steps = false);

}  // namespace farm::pipeline
