#include "farm/pipeline/txt2img.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "farm/core/error.h"
#include "farm/rng/torch_generator.h"
#include "farm/sched/sampler.h"

namespace farm::pipeline {

void check_request(const SdModel& m, const Txt2ImgRequest& r) {
  const int64_t f = m.vae->config().scale_factor();
  if (r.width <= 0 || r.height <= 0 || r.width % 8 || r.height % 8 || r.width % f || r.height % f)
    fail("size ", r.width, "x", r.height, ": width and height must be positive multiples of 8 (and of the VAE's ",
         f, ")");
  if (r.steps <= 0) fail("steps ", r.steps, ": must be at least 1");
  if (!sched::is_known_sampler(r.sampler)) fail("sampler '", r.sampler, "' is unknown");
  if (r.clip_skip < 1 || r.clip_skip > m.text_encoder->config().layers)
    fail("clip_skip ", r.clip_skip, ": must be between 1 and ", m.text_encoder->config().layers);
}

Tensor encode_prompts(const SdModel& m, const kernels::Ops& ops, const std::vector<std::string>& prompts,
                      int clip_skip) {
  std::vector<int64_t> ids;
  for (const auto& p : prompts) {
    const auto one = m.tokenizer->encode(p);
    ids.insert(ids.end(), one.begin(), one.end());
  }
  return m.text_encoder->forward(ops, ids, static_cast<int64_t>(prompts.size()), clip_skip);
}

namespace {

// torch draws NCHW; our latents are NHWC.
void randn_nhwc(rng::TorchGenerator& g, int64_t c, int64_t h, int64_t w, float* out) {
  std::vector<float> nchw(static_cast<size_t>(c * h * w));
  g.randn(nchw.data(), static_cast<int64_t>(nchw.size()));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < h * w; ++i) out[i * c + ch] = nchw[ch * h * w + i];
}

}  // namespace

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

Tensor denoise(const SdModel& m, const kernels::Ops& ops, const std::vector<Txt2ImgRequest>& batch,
               const StepCallback& on_step, StageTimes* times) {
  StageTimes local;
  StageTimes& t = times ? *times : local;
  FARM_ASSERT(!batch.empty(), "empty micro-batch");
  const auto& r0 = batch[0];
  for (const auto& r : batch) {
    check_request(m, r);
    FARM_ASSERT(r.width == r0.width && r.height == r0.height && r.steps == r0.steps && r.sampler == r0.sampler &&
                    r.clip_skip == r0.clip_skip,
                "incompatible requests in one micro-batch");
  }
  const int64_t B = static_cast<int64_t>(batch.size());
  const int64_t f = m.vae->config().scale_factor();
  const int64_t C = m.unet->config().in_channels, h = r0.height / f, w = r0.width / f, n = h * w * C;

  // Text: conditional for all, unconditional only for items that use guidance.
  std::vector<std::string> prompts;
  std::vector<int> uncond_row(static_cast<size_t>(B), -1);
  for (const auto& r : batch) prompts.push_back(r.prompt);
  for (int64_t b = 0; b < B; ++b)
    if (batch[b].guidance > 1.0f) {
      uncond_row[b] = static_cast<int>(prompts.size());
      prompts.push_back(batch[b].negative_prompt);
    }
  auto t0 = Clock::now();
  const Tensor text = encode_prompts(m, ops, prompts, r0.clip_skip);  // [rows, 77, D]
  t.text_encode += seconds_since(t0);
  const int64_t rows = static_cast<int64_t>(prompts.size());

  std::vector<std::unique_ptr<rng::TorchGenerator>> gens;
  std::vector<std::unique_ptr<sched::Sampler>> samplers;
  Tensor x({B, h, w, C});
  for (int64_t b = 0; b < B; ++b) {
    gens.push_back(std::make_unique<rng::TorchGenerator>(batch[b].seed));
    samplers.push_back(sched::make_sampler(batch[b].sampler, m.scheduler, batch[b].steps));
    randn_nhwc(*gens[b], C, h, w, x.ptr() + b * n);
    const float s = samplers[b]->init_noise_sigma();
    for (int64_t i = 0; i < n; ++i) x.data[b * n + i] *= s;
  }

  // The sampler's count, not r0.steps: diffusers' trailing spacing adds a step for some counts.
  const int steps = samplers[0]->steps();
  for (int step = 0; step < steps; ++step) {
    // UNet input rows follow the text rows: conditional rows first, then unconditional ones.
    Tensor in({rows, h, w, C});
    Tensor timesteps({rows});
    for (int64_t row = 0; row < rows; ++row) {
      int64_t b = row;
      if (row >= B) b = std::find(uncond_row.begin(), uncond_row.end(), row) - uncond_row.begin();
      samplers[b]->scale_model_input(step, x.ptr() + b * n, in.ptr() + row * n, n);
      timesteps.data[row] = samplers[b]->timestep(step);
    }
    t0 = Clock::now();
    const Tensor out = m.unet->forward(ops, std::move(in), std::move(timesteps), Tensor(text.shape, text.data));
    t.unet += seconds_since(t0);
    ++t.unet_steps;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<float> guided(out.data.begin() + b * n, out.data.begin() + (b + 1) * n);
      if (uncond_row[b] >= 0) {
        const float g = batch[b].guidance;
        const float* u = out.ptr() + uncond_row[b] * n;
        for (int64_t i = 0; i < n; ++i) guided[i] = u[i] + g * (guided[i] - u[i]);
      }
      rng::TorchGenerator& gen = *gens[b];
      samplers[b]->step(step, guided.data(), x.ptr() + b * n, n, [&](float* dst, int64_t count) {
        FARM_ASSERT(count == n, "noise request of ", count, " elements");
        randn_nhwc(gen, C, h, w, dst);
      });
    }
    if (on_step) on_step(step + 1, steps, x);
  }
  return x;
}

Tensor decode_latents(const SdModel& m, const kernels::Ops& ops, const Tensor& latents) {
  Tensor z = latents;
  // A division, not a multiply by the inverse: diffusers divides, and so rounds the same way.
  const float sf = m.vae->config().scaling_factor;
  for (float& v : z.data) v = v / sf;
  Tensor img = m.vae->decode(ops, z);
  for (float& v : img.data) v = std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f);
  return img;
}

std::vector<RgbImage> to_rgb8(const Tensor& images) {
  const int64_t B = images.dim(0), H = images.dim(1), W = images.dim(2);
  std::vector<RgbImage> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    auto& im = out[b];
    im.width = static_cast<int>(W);
    im.height = static_cast<int>(H);
    im.rgb.resize(static_cast<size_t>(H * W * 3));
    // numpy's round: half to even, which nearbyint gives in the default mode.
    for (int64_t i = 0; i < H * W * 3; ++i)
      im.rgb[i] = static_cast<uint8_t>(std::nearbyint(images.data[b * H * W * 3 + i] * 255.0f));
  }
  return out;
}

std::vector<RgbImage> txt2img(const SdModel& m, const kernels::Ops& ops, const std::vector<Txt2ImgRequest>& batch,
                              const StepCallback& on_step, StageTimes* times) {
  const Tensor latents = denoise(m, ops, batch, on_step, times);
  const auto t0 = Clock::now();
  Tensor images = decode_latents(m, ops, latents);
  if (times) times->vae_decode += seconds_since(t0);
  return to_rgb8(images);
}

}  // namespace farm::pipeline
