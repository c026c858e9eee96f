// Samplers against diffusers trajectories (tools/reference/make_sched_reference.py):
// same config file, same seed (TorchGenerator), same synthetic model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "farm/rng/torch_generator.h"
#include "farm/sched/sampler.h"
#include "tests/rng/safetensors_lite.h"

namespace farm::sched {
namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/sched/";

// The reference script's model, in the same double arithmetic (this file is
// compiled with -ffp-contract=off so nothing fuses).
void synthetic_model(const std::vector<float>& x, float timestep, std::vector<float>& out) {
  const double t = timestep;
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<float>(0.8 * static_cast<double>(x[i]) * std::cos(0.01 * t) +
                                0.1 * std::sin(0.37 * static_cast<double>(i) + 0.001 * t));
  }
}

double rel_diff(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-30); }

struct RunError {
  double max_abs = 0;
  double max_rel = 0;  // max |a - b| / max |b| over the step's latent, worst step
};

// Bound on max|ours - diffusers| / max|diffusers| per step. Everything is
// float32 in diffusers' op order; the residue (measured <= 4.1e-7) comes from
// torch's CPU sqrt/exp/log, which go through MKL VML (not correctly rounded:
// torch.sqrt differs from IEEE sqrt in ~0.7% of inputs by 1 ulp), and from
// numpy's SIMD float64 log/pow in Karras timesteps (1 ulp of a float32 t).
constexpr double kRelBound = 2e-6;

TEST(SamplerReference, MatchesDiffusers) {
  const auto index = farm::testing::read_json(kDir + "sched_index.json");
  const auto ref = farm::testing::read_safetensors_f32(kDir + "sched_ref.safetensors");
  int runs = 0;
  std::printf("%-36s %5s %12s %12s %s\n", "run", "steps", "max_abs", "max_rel", "timesteps");
  for (const auto& run : index.at("runs")) {
    const std::string name = run.at("name");
    SCOPED_TRACE(name);
    const SchedulerConfig cfg = SchedulerConfig::from_json_file(kDir + run.at("config").get<std::string>());
    const int steps = run.at("steps");
    auto sampler = make_sampler(run.at("sampler"), cfg, steps);

    const auto want_ts = run.at("timesteps").get<std::vector<double>>();
    ASSERT_EQ(sampler->steps(), static_cast<int>(want_ts.size()));
    int exact_ts = 0;
    for (int i = 0; i < sampler->steps(); ++i) {
      EXPECT_LE(rel_diff(sampler->timestep(i), want_ts[i]), 1e-6) << "timestep " << i;
      exact_ts += static_cast<double>(sampler->timestep(i)) == want_ts[i];
    }
    EXPECT_LE(rel_diff(sampler->init_noise_sigma(), run.at("init_noise_sigma").get<double>()), 1e-6);
    const auto scales = run.at("input_scales").get<std::vector<double>>();
    for (int i = 0; i < sampler->steps(); ++i) {
      EXPECT_LE(rel_diff(sampler->model_input_scale(i), scales[i]), 1e-6) << "input scale " << i;
    }
    if (run.contains("sigmas")) {
      const auto sig = run.at("sigmas").get<std::vector<double>>();
      ASSERT_EQ(sampler->sigmas().size(), sig.size());
      for (size_t i = 0; i < sig.size(); ++i) EXPECT_LE(rel_diff(sampler->sigmas()[i], sig[i]), 1e-6) << "sigma " << i;
    }

    // Initial latent: randn * init_noise_sigma, bit-exact.
    farm::rng::TorchGenerator gen(run.at("seed").get<uint64_t>());
    const auto& x0 = ref.at(name + "_x0").data;
    const int64_t n = static_cast<int64_t>(x0.size());
    std::vector<float> x(n), xin(n), m(n);
    gen.randn(x.data(), n);
    for (float& v : x) v = v * sampler->init_noise_sigma();
    int64_t x0_mismatch = 0;
    for (int64_t k = 0; k < n; ++k) x0_mismatch += std::memcmp(&x[k], &x0[k], sizeof(float)) != 0;
    EXPECT_EQ(x0_mismatch, 0) << "initial latent";

    const NoiseFn noise = [&gen](float* out, int64_t count) { gen.randn(out, count); };
    const auto& want = ref.at(name + "_x").data;
    ASSERT_EQ(static_cast<int64_t>(want.size()), n * sampler->steps());
    RunError err;
    for (int i = 0; i < sampler->steps(); ++i) {
      sampler->scale_model_input(i, x.data(), xin.data(), n);
      synthetic_model(xin, sampler->timestep(i), m);
      sampler->step(i, m.data(), x.data(), n, noise);
      double max_abs = 0, max_ref = 0;
      for (int64_t k = 0; k < n; ++k) {
        const double w = want[i * n + k];
        max_abs = std::max(max_abs, std::fabs(x[k] - w));
        max_ref = std::max(max_ref, std::fabs(w));
      }
      err.max_abs = std::max(err.max_abs, max_abs);
      err.max_rel = std::max(err.max_rel, max_abs / max_ref);
      EXPECT_LE(max_abs / max_ref, kRelBound) << "step " << i;
    }
    std::printf("%-36s %5d %12.3g %12.3g %d/%d exact\n", name.c_str(), steps, err.max_abs, err.max_rel, exact_ts,
                sampler->steps());
    ++runs;
  }
  EXPECT_GE(runs, 50);
}

}  // namespace
}  // namespace farm::sched
