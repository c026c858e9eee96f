#include "farm/pipeline/txt2img.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "farm/core/error.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/denoise_loop.h"

namespace farm::pipeline {

namespace {

void check_refiner(const SdModel& m, const Txt2ImgRequest& r, const SdModel* refiner) {
  if (!m.sdxl() || m.refiner)
    fail("refiner '", r.refiner, "': a refiner follows an SDXL base model; model ", m.name, " is not one");
  if (!refiner) fail("refiner '", r.refiner, "' is not loaded");
  if (!refiner->refiner)
    fail("refiner '", r.refiner, "': model ", refiner->name, " is not an SDXL refiner (its model_index.json has no ",
         "requires_aesthetics_score: true)");
  if (!(r.refiner_switch > 0.0 && r.refiner_switch < 1.0))
    fail("refiner_switch ", r.refiner_switch, ": expected a fraction of the schedule strictly between 0 and 1 ",
         "(diffusers' denoising_end; 0.8 hands the last 20% to the refiner)");
  for (const auto& [name, v] : {std::pair{"aesthetic_score", r.aesthetic_score},
                                {"negative_aesthetic_score", r.negative_aesthetic_score}})
    if (!std::isfinite(v)) fail(name, " ", v, ": expected a finite number (diffusers' defaults: 6.0 and 2.5)");
  if (refiner->vae->config().scale_factor() != m.vae->config().scale_factor() ||
      refiner->unet->config().in_channels != m.unet->config().in_channels)
    fail("refiner '", r.refiner, "': its latents (VAE scale ", refiner->vae->config().scale_factor(), ", ",
         refiner->unet->config().in_channels, " channels) are not the base's (", m.vae->config().scale_factor(), ", ",
         m.unet->config().in_channels, ")");
  const int64_t most = refiner->text_encoder_2->config().layers - 1;
  if (r.clip_skip > most) fail("clip_skip ", r.clip_skip, ": the refiner's text encoder takes at most ", most);
}

}  // namespace

void check_request(const SdModel& m, const Txt2ImgRequest& r, const SdModel* refiner) {
  if (!r.refiner.empty()) check_refiner(m, r, refiner);
  if (m.refiner)
    fail("model ", m.name, " is an SDXL refiner: it continues an SDXL base's latents; render with the base as the ",
         "model and this one as the refiner (--refiner)");
  const int64_t f = m.vae->config().scale_factor();
  if (r.width <= 0 || r.height <= 0 || r.width % 8 || r.height % 8 || r.width % f || r.height % f)
    fail("size ", r.width, "x", r.height, ": width and height must be positive multiples of 8 (and of the VAE's ",
         f, ")");
  if (r.steps <= 0) fail("steps ", r.steps, ": must be at least 1");
  if (!sched::is_known_sampler(r.sampler)) fail("sampler '", r.sampler, "' is unknown");
  if (r.sampler == "flow_euler")
    fail("sampler 'flow_euler': a flow-matching sampler, for Z-Image models; a Stable Diffusion UNet takes ddim, "
         "euler, euler_a, dpmpp_2m and their karras variants");
  if (m.sdxl()) {  // SDXL reads each encoder one layer earlier (ClipTextEncoder::forward_sdxl)
    const int64_t most = std::min(m.text_encoder->config().layers, m.text_encoder_2->config().layers) - 1;
    if (r.clip_skip < 1 || r.clip_skip > most) fail("clip_skip ", r.clip_skip, ": must be between 1 and ", most);
    for (const auto& [name, v] : {std::pair{"original_size", r.original_size}, {"target_size", r.target_size}})
      if (v[0] < 0 || v[1] < 0 || (v[0] == 0) != (v[1] == 0))
        fail(name, " [", v[0], ", ", v[1], "]: expected [height, width], both positive (or both 0: the image's size)");
    if (r.crops_coords_top_left[0] < 0 || r.crops_coords_top_left[1] < 0)
      fail("crops_coords_top_left [", r.crops_coords_top_left[0], ", ", r.crops_coords_top_left[1],
           "]: expected [top, left], both 0 or more");
    return;
  }
  if (r.clip_skip < 1 || r.clip_skip > m.text_encoder->config().layers)
    fail("clip_skip ", r.clip_skip, ": must be between 1 and ", m.text_encoder->config().layers);
  const std::array<int, 2> none{0, 0};
  if (r.original_size != none || r.crops_coords_top_left != none || r.target_size != none)
    fail("original_size, crops_coords_top_left and target_size are SDXL's size conditioning; model ", m.name,
         " has none");
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

Tensor denoise(const SdModel& m, const std::vector<Txt2ImgRequest>& batch,
               const StepCallback& on_step, StageTimes* times, const SdModel* refiner) {
  StageTimes local;
  StageTimes& t = times ? *times : local;
  DenoiseLoop loop(m, batch, refiner);
  const LoraScope loras(m, loop.loras());
  auto t0 = Clock::now();
  const Conditioning text = encode_conditioning(m, loop.row_prompts(), loop.clip_skip(), loop.reading(),
                                                loop.zeroed_rows());  // [rows, 77·C, D]
  const Tensor time_ids = loop.time_ids();
  // The refiner's own conditioning (its second encoder, its time ids); no LoRA
  // reaches it: the job's LoRAs patch the base's layers only.
  Conditioning text_r;
  Tensor time_ids_r;
  if (loop.base_steps() < loop.steps()) {
    text_r = encode_conditioning(*refiner, loop.row_prompts(), loop.clip_skip(), loop.reading(), loop.zeroed_rows(true));
    time_ids_r = loop.time_ids(true);
  }
  t.text_encode += seconds_since(t0);
  for (int step = 0; step < loop.steps(); ++step) {
    Tensor in, timesteps;
    loop.model_input(step, in, timesteps);
    t0 = Clock::now();
    const bool r = loop.refined(step);
    const SdModel& mm = loop.model_at(step);
    const Tensor out = mm.unet->forward(*mm.backend, std::move(in), std::move(timesteps), r ? text_r.context : text.context,
                                        r ? text_r.pooled : text.pooled, r ? time_ids_r : time_ids);
    t.unet += seconds_since(t0);
    ++t.unet_steps;
    loop.advance(step, out);
    if (on_step) on_step(step + 1, loop.steps(), loop.latents());
  }
  return loop.latents();
}

Tensor vae_input(const SdModel& m, const Tensor& latents) {
  return m.vae->config().decoder_input(latents);  // shift 0: SD's VAEs have none (sd_model.cpp)
}

void to_unit_range(Tensor& image) {
  for (float& v : image.data) v = std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f);
}

Tensor decode_latents(const SdModel& m, const Tensor& latents) {
  Tensor img = m.vae->decode(*m.backend, vae_input(m, latents));
  to_unit_range(img);
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

std::vector<RgbImage> rgb_images(const std::vector<uint8_t>& rgb, const Shape& shape) {
  const int64_t B = shape.at(0), H = shape.at(1), W = shape.at(2), n = H * W * 3;
  FARM_ASSERT(static_cast<int64_t>(rgb.size()) == B * n, rgb.size(), " bytes for images ", shape_str(shape));
  std::vector<RgbImage> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    out[b].width = static_cast<int>(W);
    out[b].height = static_cast<int>(H);
    out[b].rgb.assign(rgb.begin() + b * n, rgb.begin() + (b + 1) * n);
  }
  return out;
}

std::vector<RgbImage> txt2img(const SdModel& m, const std::vector<Txt2ImgRequest>& batch,
                              const StepCallback& on_step, StageTimes* times, const SdModel* refiner) {
  const Tensor latents = denoise(m, batch, on_step, times, refiner);
  const auto t0 = Clock::now();
  const SdModel& dec = !batch.empty() && !batch[0].refiner.empty() ? *refiner : m;  // diffusers: the refiner's VAE
  Tensor h = vae_input(dec, latents);
  dec.vae->run(*dec.backend, h, 0, dec.vae->blocks().size());
  auto images = rgb_images(dec.backend->image_to_rgb8(h), h.shape);  // only the bytes leave the device
  if (times) times->vae_decode += seconds_since(t0);
  return images;
}

}  // namespace farm::pipeline
