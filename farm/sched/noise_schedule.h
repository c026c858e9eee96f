// The diffusers noise-schedule arithmetic shared by the samplers, in the
// precision diffusers uses: torch float32 for the training tables, numpy
// float64 for inference timesteps and sigmas (cast to float32 at the end).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "farm/sched/scheduler_config.h"

namespace farm::sched {

// alphas_cumprod[t], t in [0, num_train_timesteps): torch.cumprod(1 - betas)
// in float32 (torch accumulates the product in double).
std::vector<float> alphas_cumprod(const SchedulerConfig& cfg);

// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32, ascending in t.
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod);

// Python's np.arange(start, stop, step) for float64 (length and fill rule).
std::vector<double> np_arange(double start, double stop, double step);
// torch.linspace(start, end, n, dtype=float32) as ATen's CPU kernel computes
// it on x86 builds with FMA (the step in float, fused multiply-adds).
std::vector<float> torch_linspace_f32(double start, double end, int n);
// np.linspace(start, stop, num) for float64 with endpoint.
std::vector<double> np_linspace(double start, double stop, int64_t num);
// np.round: half to even.
double np_round(double x);

// np.interp(x, [0, 1, ..., n-1], fp) in float64.
double interp_index(double x, const std::vector<float>& fp);

// diffusers' _convert_to_karras (rho = 7) in float64.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);

// diffusers' _sigma_to_t: fractional timestep whose log-sigma interpolates
// sigma in log_sigmas (float32 logs of train_sigmas).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

std::vector<float> log_of(const std::vector<float>& v);

// The class default applies when the file had no timestep_spacing.
std::string spacing_or(const SchedulerConfig& cfg, const char* class_default);

}  // namespace farm::sched
