#include "farm/sched/flow_euler.h"

#include <cmath>
#include <vector>

#include "farm/core/error.h"
#include "farm/sched/noise_schedule.h"

namespace farm::sched {

namespace {

class FlowEulerSampler final : public Sampler {
 public:
  FlowEulerSampler(const FlowMatchConfig& c, int steps, int64_t image_seq_len) {
    std::vector<float> s = torch_linspace_f32(1.0, 1.0 / steps, steps);
    if (c.use_dynamic_shifting) {
      // numpy in float32 with Python-float scalars (NEP 50): e^mu rounds to float first.
      const double mu = flow_shift_mu(c, image_seq_len);
      const float a = static_cast<float>(c.time_shift_type == "linear" ? mu : std::exp(mu));
      for (float& v : s) v = a / (a + (1.0f / v - 1.0f));
    } else {
      const float k = static_cast<float>(c.shift), k1 = static_cast<float>(c.shift - 1.0);
      for (float& v : s) v = k * v / (1.0f + k1 * v);
    }
    const float T = static_cast<float>(c.num_train_timesteps);
    for (float v : s) timesteps_.push_back(v * T);
    sigmas_ = s;
    sigmas_.push_back(0.0f);
    input_divisor_.assign(timesteps_.size(), 1.0f);
  }

  void step(int i, const float* v, float* x, int64_t n, const NoiseFn& /*deterministic*/) override {
    const float dt = sigmas_.at(static_cast<size_t>(i) + 1) - sigmas_.at(static_cast<size_t>(i));
    for (int64_t k = 0; k < n; ++k) x[k] = x[k] + dt * v[k];
  }
};

}  // namespace

double flow_shift_mu(const FlowMatchConfig& c, int64_t image_seq_len) {
  const double m = (c.max_shift - c.base_shift) / static_cast<double>(c.max_image_seq_len - c.base_image_seq_len);
  const double b = c.base_shift - m * static_cast<double>(c.base_image_seq_len);
  return static_cast<double>(image_seq_len) * m + b;
}

std::unique_ptr<Sampler> make_flow_euler(const FlowMatchConfig& c, int steps, int64_t image_seq_len) {
  if (steps < 1 || steps > c.num_train_timesteps)
    fail("flow_euler: steps must be in [1, ", c.num_train_timesteps, "], got ", steps);
  if (!(c.shift > 0)) fail("flow_euler: shift ", c.shift, " must be positive");
  if (c.time_shift_type != "exponential" && c.time_shift_type != "linear")
    fail("flow_euler: time_shift_type '", c.time_shift_type, "' is not exponential or linear");
  if (c.use_dynamic_shifting && (c.max_image_seq_len == c.base_image_seq_len || image_seq_len <= 0))
    fail("flow_euler: dynamic shifting needs the image's token count and distinct base/max_image_seq_len");
  auto s = std::make_unique<FlowEulerSampler>(c, steps, image_seq_len);
  for (float v : s->sigmas())  // a shift so large its exponential overflows, a schedule leaving [0, 1]
    if (!(v >= 0.0f && v <= 1.0f + 1e-6f))
      fail("flow_euler: the shifted schedule leaves [0, 1] (sigma ", v, "; shift ", c.shift,
           c.use_dynamic_shifting ? cat(", mu ", flow_shift_mu(c, image_seq_len)) : "", ")");
  return s;
}

}  // namespace farm::sched
