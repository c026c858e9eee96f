// diffusers DPMSolverMultistepScheduler with algorithm_type "dpmsolver++",
// solver_order 2, solver_type "midpoint", final_sigmas_type "zero" (A1111's
// "DPM++ 2M"): first order on the first and last step, second order between.
#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/sched/noise_schedule.h"
#include "farm/sched/sampler_impls.h"

namespace farm::sched {
namespace {

struct AlphaSigma {
  float alpha;
  float sigma;
  float lambda;  // log(alpha) - log(sigma)
};

// diffusers' _sigma_to_alpha_sigma_t and lambda, in float32.
AlphaSigma alpha_sigma(float s) {
  AlphaSigma r;
  r.alpha = 1.0f / std::sqrt(s * s + 1.0f);
  r.sigma = s * r.alpha;
  r.lambda = std::log(r.alpha) - std::log(r.sigma);  // +inf at sigma 0, as in torch
  return r;
}

class Dpmpp2mSampler final : public Sampler {
 public:
  Dpmpp2mSampler(const SchedulerConfig& cfg, int steps, bool karras)
      : v_prediction_(cfg.prediction_type == "v_prediction") {
    const int n = cfg.num_train_timesteps;
    const int last_timestep = n;  // lambda_min_clipped = -inf
    const std::string spacing = spacing_or(cfg, "linspace");
    std::vector<int64_t> ts;
    if (spacing == "linspace") {
      const std::vector<double> l = np_linspace(0, last_timestep - 1, steps + 1);
      for (int i = steps; i >= 1; --i) ts.push_back(static_cast<int64_t>(np_round(l[i])));
    } else if (spacing == "leading") {
      const int ratio = last_timestep / (steps + 1);
      for (int i = steps; i >= 1; --i) ts.push_back(static_cast<int64_t>(i) * ratio + cfg.steps_offset);
    } else {  // trailing
      for (double t : np_arange(last_timestep, 0, -static_cast<double>(n) / steps)) {
        ts.push_back(static_cast<int64_t>(np_round(t)) - 1);
      }
    }
    const std::vector<float> train = train_sigmas(alphas_cumprod(cfg));
    std::vector<double> sig;
    if (karras) {
      // diffusers' DPM scheduler has no sigma_min/sigma_max options: the
      // range is the training table's.
      sig = karras_sigmas(train.front(), train.back(), steps);
      const std::vector<float> log_train = log_of(train);
      ts.clear();
      for (double s : sig) {
        const double t = sigma_to_t(s, log_train);
        // astype(int64) truncates; diffusers rounds first except for the cosine schedule
        ts.push_back(static_cast<int64_t>(cfg.beta_schedule == "squaredcos_cap_v2" ? t : np_round(t)));
      }
    } else {
      for (int64_t t : ts) sig.push_back(interp_index(static_cast<double>(t), train));
    }
    for (int64_t t : ts) timesteps_.push_back(static_cast<float>(t));
    for (double s : sig) sigmas_.push_back(static_cast<float>(s));
    sigmas_.push_back(0.0f);
    input_divisor_.assign(timesteps_.size(), 1.0f);
    check_schedule(timesteps_, cfg, karras ? "dpmpp_2m_karras" : "dpmpp_2m", steps);
  }

  void set_begin_index(int i) override {
    FARM_ASSERT(next_step_ == 0 && i >= 0 && i <= steps(), "DPM++ 2M: begin index ", i, " after step ", next_step_);
    next_step_ = i;
  }

  void step(int i, const float* m, float* x, int64_t n, const NoiseFn& /*noise: not an SDE solver*/) override {
    FARM_ASSERT(i == next_step_, "DPM++ 2M steps must run in order: expected step ", next_step_, ", got ", i);
    const AlphaSigma cur = alpha_sigma(sigmas_.at(i));
    const AlphaSigma next = alpha_sigma(sigmas_.at(i + 1));
    // model output -> predicted x0 (convert_model_output)
    x0_.resize(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      x0_[k] = v_prediction_ ? cur.alpha * x[k] - cur.sigma * m[k] : (x[k] - cur.sigma * m[k]) / cur.alpha;
    }
    const float h = next.lambda - cur.lambda;
    const float c_x = next.sigma / cur.sigma;
    const float c_d = next.alpha * (std::exp(-h) - 1.0f);
    const bool first_order = lower_order_nums_ < 1 || i == steps() - 1;
    if (first_order) {
      for (int64_t k = 0; k < n; ++k) x[k] = c_x * x[k] - c_d * x0_[k];
    } else {
      const AlphaSigma prev = alpha_sigma(sigmas_.at(i - 1));
      const float h_0 = cur.lambda - prev.lambda;
      const float r0 = h_0 / h;
      const float inv_r0 = 1.0f / r0;
      const float c_d1 = 0.5f * c_d;
      for (int64_t k = 0; k < n; ++k) {
        const float d1 = inv_r0 * (x0_[k] - prev_x0_[k]);
        x[k] = (c_x * x[k] - c_d * x0_[k]) - c_d1 * d1;
      }
    }
    prev_x0_.swap(x0_);
    lower_order_nums_ = std::min(lower_order_nums_ + 1, 2);
    ++next_step_;
  }

 private:
  bool v_prediction_;
  int lower_order_nums_ = 0;
  int next_step_ = 0;
  std::vector<float> x0_;
  std::vector<float> prev_x0_;  // the previous step's predicted x0 (model_outputs[-2])
};

}  // namespace

std::unique_ptr<Sampler> make_dpmpp_2m(const SchedulerConfig& cfg, int steps, bool karras) {
  return std::make_unique<Dpmpp2mSampler>(cfg, steps, karras);
}

}  // namespace farm::sched
