// Flow-matching Euler (diffusers' FlowMatchEulerDiscreteScheduler as
// ZImagePipeline drives it), for the flow-matching DiTs (Z-Image, issue 15):
// sigmas = torch.linspace(1, 1/n, n) in float32, shifted statically
// (shift·σ / (1 + (shift − 1)·σ)) or, with use_dynamic_shifting, by
// mu = calculate_shift(image_seq_len) (exponential: e^mu / (e^mu + 1/σ − 1),
// or linear); then a final 0. Timesteps are σ·num_train_timesteps; the step
// is x += (σ_{i+1} − σ_i)·v; the latent goes in unscaled, the initial noise
// is not scaled. n steps are n model evaluations (diffusers ≥ 0.39).
// Not yet a job sampler: it joins the sampler list with the model that uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "farm/sched/sampler.h"

namespace farm::sched {

struct FlowMatchConfig {
  int num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = false;
  double base_shift = 0.5, max_shift = 1.15;
  int64_t base_image_seq_len = 256, max_image_seq_len = 4096;
  std::string time_shift_type = "exponential";  // or "linear"

  // A FlowMatchEulerDiscreteScheduler scheduler_config.json; keys it lacks
  // take that class's defaults. Throws farm::Error naming the file and field
  // for wrong types, bad values and options farm does not implement.
  static FlowMatchConfig from_json_file(const std::string& path);
  static FlowMatchConfig from_json_text(const std::string& text, const std::string& source);
};

// diffusers' calculate_shift: mu linear in the image's token count, through
// (base_image_seq_len, base_shift) and (max_image_seq_len, max_shift).
double flow_shift_mu(const FlowMatchConfig& c, int64_t image_seq_len);

// image_seq_len: the DiT's image tokens ((H/16)·(W/16) for Z-Image); read
// only with use_dynamic_shifting. Throws farm::Error for a config it cannot run.
std::unique_ptr<Sampler> make_flow_euler(const FlowMatchConfig& c, int steps, int64_t image_seq_len);

}  // namespace farm::sched
