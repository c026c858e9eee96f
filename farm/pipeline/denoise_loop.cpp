#include "farm/pipeline/denoise_loop.h"

#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/pipeline/conditioning.h"

namespace farm::pipeline {

namespace {

// torch draws NCHW; our latents are NHWC.
void randn_nhwc(rng::TorchGenerator& g, int64_t c, int64_t h, int64_t w, float* out) {
  std::vector<float> nchw(static_cast<size_t>(c * h * w));
  g.randn(nchw.data(), static_cast<int64_t>(nchw.size()));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < h * w; ++i) out[i * c + ch] = nchw[ch * h * w + i];
}

bool same_loras(const model::LoraSet& a, const model::LoraSet& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const model::LoraRef& x, const model::LoraRef& y) { return x.name == y.name && x.weight == y.weight; });
}

}  // namespace

DenoiseLoop::DenoiseLoop(const SdModel& m, std::vector<Txt2ImgRequest> batch, const SdModel* refiner)
    : batch_(std::move(batch)), base_(m) {
  FARM_ASSERT(!batch_.empty(), "empty micro-batch");
  const auto& r0 = batch_[0];
  const auto chunks = [&](const Txt2ImgRequest& r) {
    return item_chunks(m, r.prompt, r.negative_prompt, r.guidance > 1.0f, r.reading);
  };
  const int chunks0 = batch_.size() > 1 ? chunks(r0) : 0;
  if (!r0.refiner.empty()) {
    if (!refiner) fail("the request names refiner '", r0.refiner, "', which is not loaded");
    refiner_ = refiner;
  }
  for (const auto& r : batch_) {
    check_request(m, r, refiner_);
    // Same text length too: shorter rows would be padded for their batch-mates (conditioning.h).
    FARM_ASSERT(r.width == r0.width && r.height == r0.height && r.steps == r0.steps && r.sampler == r0.sampler &&
                    r.clip_skip == r0.clip_skip && r.reading == r0.reading && same_loras(r.loras, r0.loras) &&
                    r.refiner == r0.refiner && (r.refiner.empty() || r.refiner_switch == r0.refiner_switch) &&
                    (&r == &r0 || chunks(r) == chunks0),
                "incompatible requests in one micro-batch");
  }
  added_conditioning_ = m.unet->config().text_time();
  const int64_t f = m.vae->config().scale_factor();
  c_ = m.unet->config().in_channels;
  h_ = r0.height / f;
  w_ = r0.width / f;
  n_ = h_ * w_ * c_;
  const int64_t B = items();
  rows_ = B;
  uncond_row_.assign(static_cast<size_t>(B), -1);
  for (int64_t b = 0; b < B; ++b)
    if (batch_[b].guidance > 1.0f) uncond_row_[b] = static_cast<int>(rows_++);
  x_ = Tensor({B, h_, w_, c_});
  for (int64_t b = 0; b < B; ++b) {
    gens_.push_back(std::make_unique<rng::TorchGenerator>(batch_[b].seed));
    samplers_.push_back(sched::make_sampler(batch_[b].sampler, m.scheduler, batch_[b].steps));
    randn_nhwc(*gens_[b], c_, h_, w_, x_.ptr() + b * n_);
    const float s = samplers_[b]->init_noise_sigma();
    for (int64_t i = 0; i < n_; ++i) x_.data[b * n_ + i] *= s;
  }
  steps_ = base_steps_ = samplers_[0]->steps();
  if (!refiner_) return;
  // diffusers: cutoff = int(round(T - switch · T)); the base keeps the timesteps
  // at or above it (denoising_end), the refiner's own schedule those below
  // (denoising_start), from index t_start = len - that count.
  const int T = m.scheduler.num_train_timesteps;
  const double cutoff = std::nearbyint(T - r0.refiner_switch * T);  // Python's round: half to even
  const auto& base = *samplers_[0];
  base_steps_ = 0;
  while (base_steps_ < base.steps() && base.timestep(base_steps_) >= cutoff) ++base_steps_;
  for (int64_t b = 0; b < B; ++b)
    refiner_samplers_.push_back(sched::make_sampler(batch_[b].sampler, refiner_->scheduler, batch_[b].steps));
  const auto& ref = *refiner_samplers_[0];
  int below = 0;
  for (int i = 0; i < ref.steps(); ++i) below += ref.timestep(i) < cutoff;
  refiner_begin_ = ref.steps() - below;
  for (auto& s : refiner_samplers_) s->set_begin_index(refiner_begin_);
  steps_ = base_steps_ + below;
}

sched::Sampler& DenoiseLoop::sampler(int64_t item, int pass) const {
  return refined(pass) ? *refiner_samplers_[item] : *samplers_[item];
}

int64_t DenoiseLoop::row_item(int64_t row) const {
  if (row < items()) return row;
  return std::find(uncond_row_.begin(), uncond_row_.end(), row) - uncond_row_.begin();
}

std::vector<std::string> DenoiseLoop::row_prompts() const {
  std::vector<std::string> p;
  for (int64_t row = 0; row < rows_; ++row) {
    const auto& r = batch_[row_item(row)];
    p.push_back(row < items() ? r.prompt : r.negative_prompt);
  }
  return p;
}

std::vector<bool> DenoiseLoop::zeroed_rows(bool refiner) const {
  if (!(refiner ? refiner_->force_zeros_for_empty_prompt : base_.force_zeros_for_empty_prompt)) return {};
  std::vector<bool> z(static_cast<size_t>(rows_), false);
  for (int64_t row = items(); row < rows_; ++row) z[row] = batch_[row_item(row)].negative_prompt.empty();
  return z;
}

Tensor DenoiseLoop::time_ids(bool refiner) const {
  if (!added_conditioning_) return {};
  const int64_t n = refiner ? model::UNetConfig::kTimeIds - 1 : model::UNetConfig::kTimeIds;
  Tensor ids({rows_, n});
  for (int64_t row = 0; row < rows_; ++row) {
    const auto& r = batch_[row_item(row)];
    const auto or_image = [&](const std::array<int, 2>& s) {
      return s[0] == 0 ? std::array<int, 2>{r.height, r.width} : s;
    };
    const auto o = or_image(r.original_size), t = or_image(r.target_size);
    const float v[6] = {static_cast<float>(o[0]), static_cast<float>(o[1]),
                        static_cast<float>(r.crops_coords_top_left[0]), static_cast<float>(r.crops_coords_top_left[1]),
                        static_cast<float>(t[0]), static_cast<float>(t[1])};
    std::copy_n(v, n, ids.ptr() + row * n);
    // The refiner's last id: the aesthetic score, the negative one on
    // unconditional rows, whose crop is diffusers' negative_crops_coords_top_left
    // default (0, 0) there (the base repeats the conditional rows' ids).
    if (refiner && row >= items()) ids.data[row * n + 2] = ids.data[row * n + 3] = 0.0f;
    if (refiner) ids.data[row * n + 4] = row < items() ? r.aesthetic_score : r.negative_aesthetic_score;
  }
  return ids;
}

void DenoiseLoop::model_input(int step, Tensor& sample, Tensor& timesteps) const {
  sample = Tensor({rows_, h_, w_, c_});
  timesteps = Tensor({rows_});
  for (int64_t row = 0; row < rows_; ++row) {
    const int64_t b = row_item(row);
    const sched::Sampler& s = sampler(b, step);
    s.scale_model_input(sampler_step(step), x_.ptr() + b * n_, sample.ptr() + row * n_, n_);
    timesteps.data[row] = s.timestep(sampler_step(step));
  }
}

void DenoiseLoop::advance(int step, const Tensor& out) {
  FARM_ASSERT(out.size() == rows_ * n_, "UNet output ", shape_str(out.shape), " for ", rows_, " rows");
  for (int64_t b = 0; b < items(); ++b) {
    std::vector<float> guided(out.data.begin() + b * n_, out.data.begin() + (b + 1) * n_);
    if (uncond_row_[b] >= 0) {
      const float g = batch_[b].guidance;
      const float* u = out.ptr() + uncond_row_[b] * n_;
      for (int64_t i = 0; i < n_; ++i) guided[i] = u[i] + g * (guided[i] - u[i]);
    }
    rng::TorchGenerator& gen = *gens_[b];
    sampler(b, step).step(sampler_step(step), guided.data(), x_.ptr() + b * n_, n_, [&](float* dst, int64_t count) {
      FARM_ASSERT(count == n_, "noise request of ", count, " elements");
      randn_nhwc(gen, c_, h_, w_, dst);
    });
  }
}

}  // namespace farm::pipeline
