// diffusers DDIMScheduler with eta = 0 (deterministic). Per-element
// arithmetic is float32 in diffusers' operation order.
#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/sched/noise_schedule.h"
#include "farm/sched/sampler_impls.h"

namespace farm::sched {
namespace {

class DdimSampler final : public Sampler {
 public:
  DdimSampler(const SchedulerConfig& cfg, int steps)
      : alphas_cumprod_(alphas_cumprod(cfg)),
        v_prediction_(cfg.prediction_type == "v_prediction"),
        clip_(cfg.clip_sample.value_or(true)),
        clip_range_(static_cast<float>(cfg.clip_sample_range)),
        step_ratio_(cfg.num_train_timesteps / steps) {
    const int n = cfg.num_train_timesteps;
    final_alpha_cumprod_ = cfg.set_alpha_to_one.value_or(true) ? 1.0f : alphas_cumprod_[0];
    const std::string spacing = spacing_or(cfg, "leading");
    std::vector<int64_t> ts;
    if (spacing == "linspace") {
      for (double t : np_linspace(0, n - 1, steps)) ts.push_back(static_cast<int64_t>(np_round(t)));
      std::reverse(ts.begin(), ts.end());
    } else if (spacing == "leading") {
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<int64_t>(i) * step_ratio_ + cfg.steps_offset);
    } else {  // trailing
      for (double t : np_arange(n, 0, -static_cast<double>(n) / steps)) ts.push_back(static_cast<int64_t>(np_round(t)) - 1);
    }
    for (int64_t t : ts) {
      // trailing spacing ends at t = -1 when N / steps rounds badly (N = 1000:
      // steps 61, 103, 121, 122, ...); diffusers keeps it (see step()).
      FARM_ASSERT(t >= -1 && t < n, "DDIM timestep ", t, " out of range");
      timesteps_.push_back(static_cast<float>(t));
    }
    input_divisor_.assign(timesteps_.size(), 1.0f);
    check_schedule(timesteps_, cfg, "ddim", steps);
  }

  void step(int i, const float* m, float* x, int64_t n, const NoiseFn& /*noise: eta = 0*/) override {
    const int64_t t = static_cast<int64_t>(timesteps_.at(i));
    const int64_t prev_t = t - step_ratio_;
    // t = -1 indexes the last entry in diffusers (Python negative index).
    const float a_t = alphas_cumprod_[t >= 0 ? t : t + static_cast<int64_t>(alphas_cumprod_.size())];
    const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
    const float b_t = 1.0f - a_t;
    const float sqrt_a = std::sqrt(a_t);
    const float sqrt_b = std::sqrt(b_t);
    const float sqrt_a_prev = std::sqrt(a_prev);
    const float dir = std::sqrt((1.0f - a_prev) - 0.0f);  // std_dev_t = eta * ... = 0
    for (int64_t k = 0; k < n; ++k) {
      float pred_x0, pred_eps;
      if (v_prediction_) {
        pred_x0 = sqrt_a * x[k] - sqrt_b * m[k];
        pred_eps = sqrt_a * m[k] + sqrt_b * x[k];
      } else {
        pred_x0 = (x[k] - sqrt_b * m[k]) / sqrt_a;
        pred_eps = m[k];
      }
      if (clip_) pred_x0 = std::min(std::max(pred_x0, -clip_range_), clip_range_);
      x[k] = sqrt_a_prev * pred_x0 + dir * pred_eps;
    }
  }

 private:
  std::vector<float> alphas_cumprod_;
  bool v_prediction_;
  bool clip_;
  float clip_range_;
  int step_ratio_;  // diffusers: prev_timestep = t - num_train_timesteps // steps, whatever the spacing
  float final_alpha_cumprod_ = 1.0f;
};

}  // namespace

std::unique_ptr<Sampler> make_ddim(const SchedulerConfig& cfg, int steps) {
  return std::make_unique<DdimSampler>(cfg, steps);
}

}  // namespace farm::sched
