#include "farm/pipeline/denoise_loop.h"

#include <algorithm>

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

DenoiseLoop::DenoiseLoop(const SdModel& m, std::vector<Txt2ImgRequest> batch) : batch_(std::move(batch)) {
  FARM_ASSERT(!batch_.empty(), "empty micro-batch");
  const auto& r0 = batch_[0];
  const auto chunks = [&](const Txt2ImgRequest& r) {
    return item_chunks(m, r.prompt, r.negative_prompt, r.guidance > 1.0f, r.reading);
  };
  const int chunks0 = batch_.size() > 1 ? chunks(r0) : 0;
  for (const auto& r : batch_) {
    check_request(m, r);
    // Same text length too: shorter rows would be padded for their batch-mates (conditioning.h).
    FARM_ASSERT(r.width == r0.width && r.height == r0.height && r.steps == r0.steps && r.sampler == r0.sampler &&
                    r.clip_skip == r0.clip_skip && r.reading == r0.reading && same_loras(r.loras, r0.loras) &&
                    (&r == &r0 || chunks(r) == chunks0),
                "incompatible requests in one micro-batch");
  }
  zero_empty_negative_ = m.force_zeros_for_empty_prompt;
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
  steps_ = samplers_[0]->steps();
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

std::vector<bool> DenoiseLoop::zeroed_rows() const {
  if (!zero_empty_negative_) return {};
  std::vector<bool> z(static_cast<size_t>(rows_), false);
  for (int64_t row = items(); row < rows_; ++row) z[row] = batch_[row_item(row)].negative_prompt.empty();
  return z;
}

Tensor DenoiseLoop::time_ids() const {
  if (!added_conditioning_) return {};
  Tensor ids({rows_, 6});
  for (int64_t row = 0; row < rows_; ++row) {
    const auto& r = batch_[row_item(row)];
    const auto or_image = [&](const std::array<int, 2>& s) {
      return s[0] == 0 ? std::array<int, 2>{r.height, r.width} : s;
    };
    const auto o = or_image(r.original_size), t = or_image(r.target_size);
    const int v[6] = {o[0], o[1], r.crops_coords_top_left[0], r.crops_coords_top_left[1], t[0], t[1]};
    for (int i = 0; i < 6; ++i) ids.data[row * 6 + i] = static_cast<float>(v[i]);
  }
  return ids;
}

void DenoiseLoop::model_input(int step, Tensor& sample, Tensor& timesteps) const {
  sample = Tensor({rows_, h_, w_, c_});
  timesteps = Tensor({rows_});
  for (int64_t row = 0; row < rows_; ++row) {
    const int64_t b = row_item(row);
    samplers_[b]->scale_model_input(step, x_.ptr() + b * n_, sample.ptr() + row * n_, n_);
    timesteps.data[row] = samplers_[b]->timestep(step);
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
    samplers_[b]->step(step, guided.data(), x_.ptr() + b * n_, n_, [&](float* dst, int64_t count) {
      FARM_ASSERT(count == n_, "noise request of ", count, " elements");
      randn_nhwc(gen, c_, h_, w_, dst);
    });
  }
}

}  // namespace farm::pipeline
