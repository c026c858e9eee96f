// diffusers EulerDiscreteScheduler (s_churn = 0) and
// EulerAncestralDiscreteScheduler. diffusers' Euler a has no Karras option;
// "Euler a Karras" here runs the ancestral step on Euler's Karras schedule.
#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/sched/noise_schedule.h"
#include "farm/sched/sampler_impls.h"

namespace farm::sched {
namespace {

class EulerSampler final : public Sampler {
 public:
  EulerSampler(const SchedulerConfig& cfg, int steps, bool karras, bool ancestral)
      : v_prediction_(cfg.prediction_type == "v_prediction"), ancestral_(ancestral) {
    const int n = cfg.num_train_timesteps;
    const std::string spacing = spacing_or(cfg, "linspace");
    // numpy builds these in float64 and stores float32
    std::vector<float> ts;
    if (spacing == "linspace") {
      for (double t : np_linspace(0, n - 1, steps)) ts.push_back(static_cast<float>(t));
      std::reverse(ts.begin(), ts.end());
    } else if (spacing == "leading") {
      const int ratio = n / steps;
      for (int i = steps - 1; i >= 0; --i) {
        ts.push_back(static_cast<float>(np_round(static_cast<double>(i) * ratio)) + static_cast<float>(cfg.steps_offset));
      }
    } else {  // trailing
      for (double t : np_arange(n, 0, -static_cast<double>(n) / steps)) ts.push_back(static_cast<float>(np_round(t)) - 1.0f);
    }
    const std::vector<float> train = train_sigmas(alphas_cumprod(cfg));
    std::vector<double> sig;
    for (float t : ts) sig.push_back(interp_index(t, train));
    if (karras) {
      const double smin = cfg.sigma_min.value_or(sig.back());
      const double smax = cfg.sigma_max.value_or(sig.front());
      sig = karras_sigmas(smin, smax, steps);
      const std::vector<float> log_train = log_of(train);
      ts.clear();
      for (double s : sig) ts.push_back(static_cast<float>(sigma_to_t(s, log_train)));
    }
    timesteps_ = ts;
    for (double s : sig) sigmas_.push_back(static_cast<float>(s));
    sigmas_.push_back(0.0f);
    const float max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
    init_noise_sigma_ = spacing == "leading" ? std::sqrt(max_sigma * max_sigma + 1.0f) : max_sigma;
    for (size_t i = 0; i < timesteps_.size(); ++i) input_divisor_.push_back(std::sqrt(sigmas_[i] * sigmas_[i] + 1.0f));
    check_schedule(timesteps_, cfg, ancestral ? (karras ? "euler_a_karras" : "euler_a") : (karras ? "euler_karras" : "euler"), steps);
  }

  void step(int i, const float* m, float* x, int64_t n, const NoiseFn& noise) override {
    const float sigma = sigmas_.at(i);
    const float sigma_next = sigmas_.at(i + 1);
    // v_prediction: x0 = m * c_out + x * c_skip, c_out = -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1)
    const float c2 = sigma * sigma + 1.0f;
    const float c_out = -sigma / std::sqrt(c2);
    float dt, sigma_up = 0.0f;
    if (ancestral_) {
      const float from2 = sigma * sigma;
      const float to2 = sigma_next * sigma_next;
      sigma_up = std::sqrt(to2 * (from2 - to2) / from2);
      const float sigma_down = std::sqrt(to2 - sigma_up * sigma_up);
      dt = sigma_down - sigma;
    } else {
      dt = sigma_next - sigma;
    }
    for (int64_t k = 0; k < n; ++k) {
      const float pred_x0 = v_prediction_ ? m[k] * c_out + x[k] / c2 : x[k] - sigma * m[k];
      const float derivative = (x[k] - pred_x0) / sigma;
      x[k] = x[k] + derivative * dt;
    }
    if (ancestral_) {
      noise_.resize(static_cast<size_t>(n));
      noise(noise_.data(), n);
      for (int64_t k = 0; k < n; ++k) x[k] = x[k] + noise_[k] * sigma_up;
    }
  }

 private:
  bool v_prediction_;
  bool ancestral_;
  std::vector<float> noise_;
};

}  // namespace

std::unique_ptr<Sampler> make_euler(const SchedulerConfig& cfg, int steps, bool karras, bool ancestral) {
  return std::make_unique<EulerSampler>(cfg, steps, karras, ancestral);
}

}  // namespace farm::sched
