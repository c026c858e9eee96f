// SchedulerConfig parsing and the errors users can cause.
#include "farm/sched/scheduler_config.h"

#include <gtest/gtest.h>

#include <string>

#include "farm/core/error.h"
#include "farm/sched/sampler.h"

namespace farm::sched {
namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/sched/";

// The error names the file and the field.
void expect_error(const std::string& json, const std::string& field) {
  try {
    SchedulerConfig::from_json_text(json, "cfg.json");
    ADD_FAILURE() << "no error for " << json;
  } catch (const farm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + field + "'"), std::string::npos) << msg;
  }
}

TEST(SchedulerConfig, ReadsSd15PndmConfig) {
  const auto c = SchedulerConfig::from_json_file(kDir + "configs/sd15_pndm.json");
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(c.beta_start, 0.00085);
  EXPECT_DOUBLE_EQ(c.beta_end, 0.012);
  EXPECT_EQ(c.beta_schedule, "scaled_linear");
  EXPECT_EQ(c.steps_offset, 1);
  EXPECT_EQ(c.set_alpha_to_one, std::optional<bool>(false));
  EXPECT_EQ(c.clip_sample, std::optional<bool>(false));
  EXPECT_FALSE(c.timestep_spacing.has_value());  // each sampler's class default applies
  EXPECT_EQ(c.prediction_type, "epsilon");
}

TEST(SchedulerConfig, ClassDefaultSpacing) {
  const auto c = SchedulerConfig::from_json_file(kDir + "configs/sd15_pndm.json");
  EXPECT_EQ(make_sampler("ddim", c, 4)->timestep(0), 751.0f);   // leading + steps_offset
  EXPECT_EQ(make_sampler("euler", c, 4)->timestep(0), 999.0f);  // linspace
  EXPECT_EQ(make_sampler("dpmpp_2m", c, 4)->timestep(0), 999.0f);
}

TEST(SchedulerConfig, RejectsUnsupportedValues) {
  expect_error(R"({"prediction_type": "sample"})", "prediction_type");
  expect_error(R"({"beta_schedule": "sigmoid"})", "beta_schedule");
  expect_error(R"({"timestep_spacing": "karras"})", "timestep_spacing");
  expect_error(R"({"num_train_timesteps": "1000"})", "num_train_timesteps");
  expect_error(R"({"steps_offset": 1.5})", "steps_offset");
  expect_error(R"({"thresholding": true})", "thresholding");
  expect_error(R"({"rescale_betas_zero_snr": true})", "rescale_betas_zero_snr");
  expect_error(R"({"interpolation_type": "log_linear"})", "interpolation_type");
  expect_error(R"({"final_sigmas_type": "sigma_min"})", "final_sigmas_type");
  expect_error(R"({"use_exponential_sigmas": true})", "use_exponential_sigmas");
  expect_error(R"({"timestep_type": "continuous"})", "timestep_type");
  expect_error(R"({"lambda_min_clipped": -5.1})", "lambda_min_clipped");
  expect_error(R"({"trained_betas": [0.1, 0.2]})", "trained_betas");
  expect_error(R"({"clip_sample": "no"})", "clip_sample");
  expect_error(R"({"beta_end": 2})", "beta_end");
}

TEST(SchedulerConfig, AcceptsPythonInfinityAndNulls) {
  const auto c = SchedulerConfig::from_json_text(
      R"({"lambda_min_clipped": -Infinity, "trained_betas": null, "sigma_min": null, "_class_name": "DPMSolverMultistepScheduler"})",
      "cfg.json");
  EXPECT_FALSE(c.sigma_min.has_value());
  EXPECT_TRUE(c.trained_betas.empty());
}

TEST(SchedulerConfig, BadFileNamesPath) {
  try {
    SchedulerConfig::from_json_file("/nonexistent/scheduler_config.json");
    ADD_FAILURE();
  } catch (const farm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/scheduler_config.json"), std::string::npos);
  }
  EXPECT_THROW(SchedulerConfig::from_json_text("{not json", "x.json"), farm::Error);
  EXPECT_THROW(SchedulerConfig::from_json_text("[1, 2]", "x.json"), farm::Error);
}

TEST(Samplers, NamesAndErrors) {
  for (const char* s : {"ddim", "euler", "euler_karras", "euler_a", "euler_a_karras", "dpmpp_2m", "dpmpp_2m_karras"}) {
    EXPECT_TRUE(is_known_sampler(s)) << s;
  }
  EXPECT_FALSE(is_known_sampler("pndm"));
  EXPECT_EQ(sampler_display_name("euler_a"), "Euler a");
  EXPECT_EQ(sampler_display_name("dpmpp_2m_karras"), "DPM++ 2M Karras");
  EXPECT_EQ(sampler_display_name("ddim"), "DDIM");
  const SchedulerConfig c;
  EXPECT_THROW(make_sampler("pndm", c, 20), farm::Error);
  EXPECT_THROW(make_sampler("euler", c, 0), farm::Error);
  EXPECT_THROW(make_sampler("euler", c, 1001), farm::Error);
}

TEST(Samplers, RefusesScheduleDiffusersCannotRun) {
  // diffusers: DPM++ 2M Karras on the cosine schedule repeats timestep 998 first
  // and then indexes past its sigmas (IndexError).
  const auto c = SchedulerConfig::from_json_file(kDir + "configs/cos_linspace.json");
  EXPECT_THROW(make_sampler("dpmpp_2m_karras", c, 6), farm::Error);
}

TEST(Samplers, StepsAreDeterministicPerItem) {
  // Two samplers of one config, fed the same inputs, agree bit for bit
  // (no hidden shared state between items).
  const auto c = SchedulerConfig::from_json_file(kDir + "configs/sd15_pndm.json");
  auto a = make_sampler("dpmpp_2m", c, 5);
  auto b = make_sampler("dpmpp_2m", c, 5);
  std::vector<float> xa(32, 1.0f), xb(32, 1.0f), m(32, 0.5f);
  const NoiseFn none = [](float*, int64_t) {};
  for (int i = 0; i < 5; ++i) {
    a->step(i, m.data(), xa.data(), 32, none);
    b->step(i, m.data(), xb.data(), 32, none);
  }
  EXPECT_EQ(xa, xb);
}

// Found by fuzz/fuzz_model_config in CI: a number too large for any JSON
// number type is nlohmann's out_of_range during parse, not a parse_error, and
// escaped as an uncaught exception.
TEST(SchedulerConfig, NumberTooLargeIsABadFileNotACrash) {
  EXPECT_THROW(SchedulerConfig::from_json_text("{\"num_train_timesteps\": 46116e6018427387904}", "x.json"), farm::Error);
}

}  // namespace
}  // namespace farm::sched

