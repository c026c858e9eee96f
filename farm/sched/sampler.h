// Samplers matching diffusers' schedulers numerically (DDIM eta 0, Euler,
// Euler ancestral, DPM++ 2M, with Karras sigmas). One Sampler per item: it
// holds that item's schedule and multistep history.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "farm/sched/scheduler_config.h"

namespace farm::sched {

// "ddim", "euler", "euler_karras", "euler_a", "euler_a_karras", "dpmpp_2m", "dpmpp_2m_karras"
bool is_known_sampler(const std::string& name);
const std::vector<std::string>& known_samplers();
// A1111 names: "DDIM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", ...
std::string sampler_display_name(const std::string& name);
// farm's name of a sampler given by farm's name or as A1111 writes it
// ("Euler a", "DPM++ 2M Karras"; any case), "" when unknown.
std::string canonical_sampler(const std::string& name);
// For errors: "ddim, euler, ... (or as A1111 writes them: DDIM, Euler, ...)".
std::string sampler_names_list();

// Fills n standard-normal values (the item's generator).
using NoiseFn = std::function<void(float* out, int64_t n)>;

class Sampler {
 public:
  virtual ~Sampler() = default;

  // Number of UNet evaluations. Usually the requested steps; diffusers'
  // trailing spacing gives one more for some counts (1000 / 61 rounds badly).
  int steps() const { return static_cast<int>(timesteps_.size()); }
  // Value fed to the UNet at step i (diffusers' scheduler.timesteps[i] as float).
  float timestep(int i) const { return timesteps_.at(i); }
  // Initial latents = randn * this (a float32 multiply, as diffusers does).
  float init_noise_sigma() const { return init_noise_sigma_; }
  // scale_model_input factor: 1 / sqrt(sigma_i^2 + 1) for the Euler family,
  // 1 for DDIM and DPM++ (diffusers feeds their latent unscaled). diffusers
  // divides by sqrt(sigma^2 + 1), so multiplying by this factor can be 1 ulp
  // off; scale_model_input below divides exactly as diffusers does.
  float model_input_scale(int i) const { return 1.0f / input_divisor_.at(i); }
  // out[n] = diffusers' scheduler.scale_model_input(x, timesteps[i]): the same
  // float32 division (torch's sqrt in the divisor is MKL's, rarely 1 ulp apart).
  void scale_model_input(int i, const float* x, float* out, int64_t n) const;

  // The first step this sampler will run (diffusers' set_begin_index): a
  // refiner's fresh sampler starts mid-schedule with no multistep history.
  virtual void set_begin_index(int /*i*/) {}

  // x[n] <- the scheduler step from the model output (after guidance) at step i.
  virtual void step(int i, const float* model_output, float* x, int64_t n, const NoiseFn& noise) = 0;

  // The sigma schedule (steps + 1 values, last 0) where the sampler has one.
  const std::vector<float>& sigmas() const { return sigmas_; }

 protected:
  std::vector<float> timesteps_;
  std::vector<float> input_divisor_;  // per step; 1 where the latent goes in unscaled
  std::vector<float> sigmas_;
  float init_noise_sigma_ = 1.0f;
};

// Throws farm::Error for an unknown name or a config the sampler cannot run.
std::unique_ptr<Sampler> make_sampler(const std::string& name, const SchedulerConfig& cfg, int steps);

}  // namespace farm::sched
