// Text-to-image for a micro-batch of compatible requests (same size, steps
// and sampler), as diffusers' StableDiffusionPipeline computes it: prompt and
// negative prompt through the text encoder, per-item seeded noise, the
// sampler loop with classifier-free guidance, VAE decode, 8-bit RGB.
// Every op runs per sample, so an image does not depend on its batch-mates.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "farm/model/lora.h"
#include "farm/pipeline/sd_model.h"
#include "farm/text/prompt_chunks.h"
#include "kernels/backend.h"

namespace farm::pipeline {

struct Txt2ImgRequest {
  std::string prompt, negative_prompt;
  uint64_t seed = 0;
  int steps = 20;
  float guidance = 7.5f;  // ≤ 1 skips the unconditional pass, as diffusers does
  int width = 512, height = 512;
  std::string sampler = "euler_a";
  int clip_skip = 1;
  text::PromptReading reading;  // --prompt-syntax, --text-fix
  model::LoraSet loras;         // names SdModel::load_loras loaded, with weights
  // SDXL's size conditioning, as diffusers' original_size and target_size
  // (height, width; 0: the image's own) and crops_coords_top_left (top, left).
  std::array<int, 2> original_size{0, 0}, crops_coords_top_left{0, 0}, target_size{0, 0};
  // SDXL base -> refiner, diffusers' "ensemble of experts": the base runs the
  // timesteps at or above (1 - refiner_switch) · num_train_timesteps (its
  // denoising_end), the refiner the rest with a fresh sampler (denoising_start),
  // its time ids carrying the aesthetic score of the conditional rows and the
  // negative one of the unconditional rows. `refiner` names the refiner model
  // (the job's --refiner); "" renders with the base alone.
  std::string refiner;
  double refiner_switch = 0.8;  // a double, as diffusers computes the cutoff
  float aesthetic_score = 6.0f, negative_aesthetic_score = 2.5f;
};

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3]
};

// Called after each denoising step of the micro-batch with (steps done,
// steps, latents [B,h,w,C] after that step) — progress, previews, tests.
using StepCallback = std::function<void(int, int, const Tensor&)>;

// Where a micro-batch's time went (seconds), for progress lines and benchmarks.
struct StageTimes {
  double text_encode = 0, unet = 0, vae_decode = 0;
  int unet_steps = 0;
};

// Throws farm::Error when the requests are not compatible or invalid for the
// model (and its refiner, when the request names one).
void check_request(const SdModel& m, const Txt2ImgRequest& r, const SdModel* refiner = nullptr);

// Everything below runs on the model's backend (m.backend).

// The final latents [B, h, w, C] (before the VAE), for tests that stop there.
// With a refiner, requests that name it switch to it at their refiner_switch.
Tensor denoise(const SdModel& m, const std::vector<Txt2ImgRequest>& batch,
               const StepCallback& on_step = {}, StageTimes* times = nullptr, const SdModel* refiner = nullptr);

// host latents [B,h,w,C] -> host images, as diffusers: vae.decode(latents / scaling_factor),
// (x / 2 + 0.5).clamp(0, 1), round(x · 255).
Tensor decode_latents(const SdModel& m, const Tensor& latents);  // float [B,H,W,3] in [0,1]
// The two ends of decode_latents (host tensors), for a decode run part by part (VaeDecoder::run).
Tensor vae_input(const SdModel& m, const Tensor& latents);  // latents / scaling_factor
void to_unit_range(Tensor& image);                          // (x / 2 + 0.5).clamp(0, 1)
std::vector<RgbImage> to_rgb8(const Tensor& images);        // unit-range host images -> bytes
// Bytes [B,H,W,3] (Backend::image_to_rgb8) of images of `shape` [B,H,W,3], one RgbImage each.
std::vector<RgbImage> rgb_images(const std::vector<uint8_t>& rgb, const Shape& shape);

// Decodes with the refiner's VAE when the requests name the refiner.
std::vector<RgbImage> txt2img(const SdModel& m, const std::vector<Txt2ImgRequest>& batch,
                              const StepCallback& on_step = {}, StageTimes* times = nullptr,
                              const SdModel* refiner = nullptr);

}  // namespace farm::pipeline
