// One micro-batch's sampling state between UNet calls: per-item seeded
// generators, samplers (with their multistep history), the latents, and the
// UNet row layout for classifier-free guidance (conditional rows first, then
// one unconditional row per item with guidance > 1).
//
// The single-process pipeline and the ring's last stage both drive this, so
// an image is computed by the same code whatever the layout. Two loops built
// from the same requests draw the same initial noise, which lets stage 0
// build the first model input while the last stage owns the loop.
//
// With a refiner the loop's passes are the base's steps, then the refiner's:
// pass p < base_steps() is base step p, a later one refiner step
// refiner_begin + (p - base_steps()) of the refiner's own sampler, which starts
// there with no history (diffusers' set_begin_index) and draws its noise from
// the same per-item generators (one generator passed to both pipelines).
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
  // `refiner`: the model the requests name in `refiner`, if they do.
  DenoiseLoop(const SdModel& m, std::vector<Txt2ImgRequest> batch, const SdModel* refiner = nullptr);

  const std::vector<Txt2ImgRequest>& batch() const { return batch_; }
  // UNet passes: the sampler's count (trailing spacing may add one); with a
  // refiner, the base's steps and then the refiner's.
  int steps() const { return steps_; }
  int base_steps() const { return base_steps_; }
  // Whether pass p runs the refiner, and the model that runs it.
  bool refined(int pass) const { return refiner_ && pass >= base_steps_; }
  const SdModel& model_at(int pass) const { return refined(pass) ? *refiner_ : base_; }
  // The model whose VAE decodes the final latents.
  const SdModel& decoder() const { return refiner_ ? *refiner_ : base_; }
  int64_t items() const { return static_cast<int64_t>(batch_.size()); }
  int64_t rows() const { return rows_; }  // UNet batch rows
  int clip_skip() const { return batch_[0].clip_skip; }
  text::PromptReading reading() const { return batch_[0].reading; }
  const model::LoraSet& loras() const { return batch_[0].loras; }  // the micro-batch's: every item's
  // The prompt of each UNet row: the text encoder's input.
  std::vector<std::string> row_prompts() const;
  // The rows that condition on zeros: an empty negative prompt on a model with
  // force_zeros_for_empty_prompt (SDXL), as diffusers' negative_prompt=None.
  // Of the refiner's conditioning with `refiner`.
  std::vector<bool> zeroed_rows(bool refiner = false) const;
  // SDXL's time ids (host) for UNetState::time_ids: the base's [rows, 6], the
  // refiner's [rows, 5]; undefined for other models.
  Tensor time_ids(bool refiner = false) const;

  // The UNet input [rows, h, w, C] and timesteps [rows] for `step`.
  void model_input(int step, Tensor& sample, Tensor& timesteps) const;
  // Guidance and the sampler step from the UNet output [rows, h, w, C].
  void advance(int step, const Tensor& unet_out);
  const Tensor& latents() const { return x_; }  // [items, h, w, C]

 private:
  int64_t row_item(int64_t row) const;
  sched::Sampler& sampler(int64_t item, int pass) const;
  int sampler_step(int pass) const { return refined(pass) ? refiner_begin_ + pass - base_steps_ : pass; }

  std::vector<Txt2ImgRequest> batch_;
  int64_t h_ = 0, w_ = 0, c_ = 0, n_ = 0, rows_ = 0;
  const SdModel& base_;
  const SdModel* refiner_ = nullptr;
  int steps_ = 0, base_steps_ = 0, refiner_begin_ = 0;
  bool added_conditioning_ = false;
  std::vector<int> uncond_row_;  // per item, -1 without guidance
  std::vector<std::unique_ptr<rng::TorchGenerator>> gens_;
  std::vector<std::unique_ptr<sched::Sampler>> samplers_, refiner_samplers_;
  Tensor x_;
};

}  // namespace farm::pipeline
