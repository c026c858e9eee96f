// One micro-batch's sampling state between UNet calls: per-item seeded
// generators, samplers (with their multistep history), the latents, and the
// UNet row layout for classifier-free guidance (conditional rows first, then
// one unconditional row per item with guidance > 1).
//
// The single-process pipeline and the ring's last stage both drive this, so
// an image is computed by the same code whatever the layout. Two loops built
// from the same requests draw the same initial noise, which lets stage 0
// build the first model input while the last stage owns the loop.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "farm/core/tensor.h"
#include "farm/pipeline/txt2img.h"
#include "farm/rng/torch_generator.h"
#include "farm/sched/sampler.h"

namespace farm::pipeline {

class DenoiseLoop {
 public:
  // Checks the requests are valid for the model and compatible with each other.
  DenoiseLoop(const SdModel& m, std::vector<Txt2ImgRequest> batch);

  const std::vector<Txt2ImgRequest>& batch() const { return batch_; }
  int steps() const { return steps_; }  // the sampler's count (trailing spacing may add one)
  int64_t items() const { return static_cast<int64_t>(batch_.size()); }
  int64_t rows() const { return rows_; }  // UNet batch rows
  int clip_skip() const { return batch_[0].clip_skip; }
  text::PromptReading reading() const { return batch_[0].reading; }
  const model::LoraSet& loras() const { return batch_[0].loras; }  // the micro-batch's: every item's
  // The prompt of each UNet row: the text encoder's input.
  std::vector<std::string> row_prompts() const;
  // The rows that condition on zeros: an empty negative prompt on a model with
  // force_zeros_for_empty_prompt (SDXL), as diffusers' negative_prompt=None.
  std::vector<bool> zeroed_rows() const;
  // SDXL's time ids [rows, 6] (host) for UNetState::time_ids; undefined for other models.
  Tensor time_ids() const;

  // The UNet input [rows, h, w, C] and timesteps [rows] for `step`.
  void model_input(int step, Tensor& sample, Tensor& timesteps) const;
  // Guidance and the sampler step from the UNet output [rows, h, w, C].
  void advance(int step, const Tensor& unet_out);
  const Tensor& latents() const { return x_; }  // [items, h, w, C]

 private:
  int64_t row_item(int64_t row) const;

  std::vector<Txt2ImgRequest> batch_;
  int64_t h_ = 0, w_ = 0, c_ = 0, n_ = 0, rows_ = 0;
  int steps_ = 0;
  bool zero_empty_negative_ = false, added_conditioning_ = false;
  std::vector<int> uncond_row_;  // per item, -1 without guidance
  std::vector<std::unique_ptr<rng::TorchGenerator>> gens_;
  std::vector<std::unique_ptr<sched::Sampler>> samplers_;
  Tensor x_;
};

}  // namespace farm::pipeline
