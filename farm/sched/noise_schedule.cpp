#include "farm/sched/noise_schedule.h"

#include <algorithm>
#include <cmath>

#include "farm/core/error.h"

namespace farm::sched {
namespace {

constexpr double kPi = 3.14159265358979323846;

// diffusers' betas_for_alpha_bar (cosine), in Python doubles.
std::vector<float> cosine_betas(int n) {
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * kPi / 2);
    return c * c;
  };
  std::vector<float> betas(n);
  for (int i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / n;
    const double t2 = static_cast<double>(i + 1) / n;
    betas[i] = static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999));
  }
  return betas;
}

}  // namespace

// torch.linspace(start, end, n, dtype=float32) as ATen's CPU kernel computes
// it on x86 builds with FMA (AVX2/AVX512 dispatch; GCC fuses the a + s*i).
std::vector<float> torch_linspace_f32(double start_d, double end_d, int n) {
  const float start = static_cast<float>(start_d);
  const float end = static_cast<float>(end_d);
  if (n == 1) return {start};
  const float step = (end - start) / static_cast<float>(n - 1);
  const int halfway = n / 2;
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i) {
    out[i] = i < halfway ? std::fma(step, static_cast<float>(i), start)
                         : std::fma(-step, static_cast<float>(n - i - 1), end);
  }
  return out;
}


std::vector<float> alphas_cumprod(const SchedulerConfig& cfg) {
  const int n = cfg.num_train_timesteps;
  std::vector<float> betas;
  if (!cfg.trained_betas.empty()) {
    for (double b : cfg.trained_betas) betas.push_back(static_cast<float>(b));
  } else if (cfg.beta_schedule == "linear") {
    betas = torch_linspace_f32(cfg.beta_start, cfg.beta_end, n);
  } else if (cfg.beta_schedule == "scaled_linear") {
    betas = torch_linspace_f32(std::sqrt(cfg.beta_start), std::sqrt(cfg.beta_end), n);
    for (float& b : betas) b = b * b;
  } else if (cfg.beta_schedule == "squaredcos_cap_v2") {
    betas = cosine_betas(n);
  } else {
    fail("scheduler config ", cfg.source, ": field 'beta_schedule' has unsupported value '", cfg.beta_schedule, "'");
  }
  FARM_ASSERT(static_cast<int>(betas.size()) == n, "betas size");
  std::vector<float> out(n);
  double acc = 1.0;
  for (int i = 0; i < n; ++i) {
    acc *= static_cast<double>(1.0f - betas[i]);
    out[i] = static_cast<float>(acc);
  }
  return out;
}

std::vector<float> train_sigmas(const std::vector<float>& ac) {
  std::vector<float> s(ac.size());
  for (size_t i = 0; i < ac.size(); ++i) s[i] = std::sqrt((1.0f - ac[i]) / ac[i]);
  return s;
}

std::vector<double> np_arange(double start, double stop, double step) {
  FARM_ASSERT(step != 0, "arange step 0");
  const double len_d = std::ceil((stop - start) / step);
  const int64_t len = len_d > 0 ? static_cast<int64_t>(len_d) : 0;
  std::vector<double> out(len);
  if (len == 0) return out;
  out[0] = start;
  if (len > 1) {
    // numpy fills from the first two values: start + i * ((start + step) - start)
    out[1] = start + step;
    const double delta = out[1] - start;
    for (int64_t i = 2; i < len; ++i) out[i] = start + static_cast<double>(i) * delta;
  }
  return out;
}

std::vector<double> np_linspace(double start, double stop, int64_t num) {
  std::vector<double> out(num);
  if (num == 1) {
    out[0] = start;
    return out;
  }
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (int64_t i = 0; i < num; ++i) out[i] = static_cast<double>(i) * step + start;
  out[num - 1] = stop;
  return out;
}

double np_round(double x) { return std::nearbyint(x); }

double interp_index(double x, const std::vector<float>& fp) {
  const int64_t n = static_cast<int64_t>(fp.size());
  if (x <= 0) return fp[0];
  if (x >= static_cast<double>(n - 1)) return fp[n - 1];
  const int64_t j = static_cast<int64_t>(std::floor(x));
  if (static_cast<double>(j) == x) return fp[j];
  const double slope = (static_cast<double>(fp[j + 1]) - static_cast<double>(fp[j])) / 1.0;
  return slope * (x - static_cast<double>(j)) + static_cast<double>(fp[j]);
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  const double rho = 7.0;
  const std::vector<double> ramp = np_linspace(0.0, 1.0, steps);
  const double min_inv_rho = std::pow(sigma_min, 1 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> out(steps);
  for (int i = 0; i < steps; ++i) out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  // cumsum(dists >= 0).argmax(): the last index with log_sigmas[j] <= log_sigma, or 0
  int64_t low = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (log_sigma - static_cast<double>(log_sigmas[j]) >= 0) low = j;
  }
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const double lo = log_sigmas[low];
  const double hi = log_sigmas[high];
  double w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(high);
}

std::vector<float> log_of(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::log(v[i]);
  return out;
}

std::string spacing_or(const SchedulerConfig& cfg, const char* class_default) {
  return cfg.timestep_spacing ? *cfg.timestep_spacing : std::string(class_default);
}

}  // namespace farm::sched
