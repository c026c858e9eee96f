// The fields of a diffusers scheduler_config.json that the farm samplers use.
// A pipeline folder ships one scheduler class's config (SD1: PNDMScheduler,
// SD2: DDIMScheduler); diffusers' from_config hands its keys to the sampler's
// class and keys the file lacks take that class's defaults, so fields whose
// default differs by class stay optional here.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace farm::sched {

struct SchedulerConfig {
  std::string source = "<defaults>";  // file the values came from, for errors
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";  // linear, scaled_linear, squaredcos_cap_v2
  std::vector<double> trained_betas;     // non-empty overrides beta_schedule
  std::string prediction_type = "epsilon";  // epsilon, v_prediction
  std::optional<std::string> timestep_spacing;  // leading, trailing, linspace; default: DDIM leading, others linspace
  int steps_offset = 0;
  std::optional<bool> set_alpha_to_one;  // DDIM only; default true
  std::optional<bool> clip_sample;       // DDIM only; default true
  double clip_sample_range = 1.0;
  std::optional<double> sigma_min;  // Euler family Karras range overrides
  std::optional<double> sigma_max;

  // Throws farm::Error naming the file and field for unreadable files, wrong
  // types and values the samplers do not implement.
  static SchedulerConfig from_json_file(const std::string& path);
  static SchedulerConfig from_json_text(const std::string& text, const std::string& source);
};

}  // namespace farm::sched
