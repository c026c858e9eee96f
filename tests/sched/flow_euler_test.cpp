// Flow-matching Euler against diffusers' FlowMatchEulerDiscreteScheduler as
// ZImagePipeline drives it (tools/reference/make_flow_reference.py): the
// float32 sigmas and timesteps bit for bit (static shift, dynamic shift with
// exponential and linear time shift, 1 to 13 steps), and the latent after
// every step of a synthetic model bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "farm/core/error.h"
#include "farm/sched/flow_euler.h"

namespace farm::sched {
namespace {

nlohmann::json reference() {
  std::ifstream in(std::string(FARM_TEST_DATA) + "/sched/flow_reference.json");
  return nlohmann::json::parse(in);
}

// The synthetic model of the reference tool, in double as Python's math computes it.
std::vector<float> model(const std::vector<float>& x, double t) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = static_cast<float>(0.7 * x[i] * std::cos(0.002 * t) - 0.2 * std::sin(0.31 * static_cast<double>(i) + 0.003 * t));
  return out;
}

TEST(FlowEuler, SchedulesAndStepsMatchDiffusersBitForBit) {
  const auto ref = reference();
  ASSERT_GE(ref.at("cases").size(), 7u);
  for (const auto& c : ref.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto& j = c.at("config");
    FlowMatchConfig cfg;
    cfg.num_train_timesteps = j.at("num_train_timesteps");
    cfg.shift = j.at("shift");
    cfg.use_dynamic_shifting = j.at("use_dynamic_shifting");
    cfg.base_shift = j.at("base_shift");
    cfg.max_shift = j.at("max_shift");
    cfg.base_image_seq_len = j.at("base_image_seq_len");
    cfg.max_image_seq_len = j.at("max_image_seq_len");
    cfg.time_shift_type = j.at("time_shift_type");
    const int64_t seq = c.at("image_seq_len").is_null() ? 0 : c.at("image_seq_len").get<int64_t>();
    if (cfg.use_dynamic_shifting) {
      EXPECT_EQ(flow_shift_mu(cfg, seq), c.at("mu").get<double>());
    }
    const auto s = make_flow_euler(cfg, c.at("steps"), seq);
    const auto sigmas = c.at("sigmas").get<std::vector<double>>(), ts = c.at("timesteps").get<std::vector<double>>();
    ASSERT_EQ(s->steps(), static_cast<int>(ts.size()));
    ASSERT_EQ(s->sigmas().size(), sigmas.size());
    for (size_t i = 0; i < sigmas.size(); ++i) EXPECT_EQ(s->sigmas()[i], static_cast<float>(sigmas[i])) << "sigma " << i;
    for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(s->timestep(static_cast<int>(i)), static_cast<float>(ts[i])) << i;
    EXPECT_EQ(s->init_noise_sigma(), 1.0f);
    std::vector<float> x;
    for (double v : c.at("x0")) x.push_back(static_cast<float>(v));
    for (int i = 0; i < s->steps(); ++i) {
      std::vector<float> in(x.size());
      s->scale_model_input(i, x.data(), in.data(), static_cast<int64_t>(x.size()));
      ASSERT_EQ(in, x) << "flow matching feeds the latent unscaled";
      const auto v = model(x, s->timestep(i));
      s->step(i, v.data(), x.data(), static_cast<int64_t>(x.size()), {});
      const auto& want = c.at("x").at(static_cast<size_t>(i));
      for (size_t k = 0; k < x.size(); ++k) ASSERT_EQ(x[k], static_cast<float>(want[k].get<double>())) << "step " << i << " elem " << k;
    }
  }
}

TEST(FlowEuler, BadConfigsAreClearErrors) {
  FlowMatchConfig c;
  EXPECT_THROW(make_flow_euler(c, 0, 0), Error);
  c.time_shift_type = "cubic";
  EXPECT_THROW(make_flow_euler(c, 8, 0), Error);
  c.time_shift_type = "exponential";
  c.use_dynamic_shifting = true;
  EXPECT_THROW(make_flow_euler(c, 8, 0), Error);  // no image token count
  c.max_shift = 1e6;  // e^mu overflows: the schedule is not a schedule
  EXPECT_THROW(make_flow_euler(c, 8, 4096), Error);
  c.shift = 0;
  c.use_dynamic_shifting = false;
  EXPECT_THROW(make_flow_euler(c, 8, 0), Error);
}

}  // namespace
}  // namespace farm::sched

namespace farm::sched {
namespace {

// Z-Image-Turbo's scheduler_config.json (as ../shared/notes/z-image.md quotes it) and diffusers' defaults.
TEST(FlowMatchConfig, ReadsZImageTurbosConfigAndDefaults) {
  const auto c = FlowMatchConfig::from_json_text(
      R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.36.0",
          "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": false})", "zimage.json");
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_EQ(c.shift, 3.0);
  EXPECT_FALSE(c.use_dynamic_shifting);
  EXPECT_EQ(c.base_image_seq_len, 256);
  EXPECT_EQ(c.max_image_seq_len, 4096);
  EXPECT_EQ(c.time_shift_type, "exponential");
  const auto d = FlowMatchConfig::from_json_text(
      R"({"use_dynamic_shifting": true, "base_shift": 0.5, "max_shift": 1.15, "time_shift_type": "linear",
          "shift_terminal": null, "invert_sigmas": false})", "flux.json");
  EXPECT_TRUE(d.use_dynamic_shifting);
  EXPECT_EQ(d.time_shift_type, "linear");
}

TEST(FlowMatchConfig, ErrorsNameTheFileAndField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"_class_name": "EulerDiscreteScheduler"})", "'_class_name'"},
      {R"({"shift": -1})", "'shift'"},
      {R"({"shift": "3"})", "'shift'"},
      {R"({"use_dynamic_shifting": 1})", "'use_dynamic_shifting'"},
      {R"({"time_shift_type": "cubic"})", "'time_shift_type'"},
      {R"({"stochastic_sampling": true})", "'stochastic_sampling'"},
      {R"({"invert_sigmas": true})", "'invert_sigmas'"},
      {R"({"shift_terminal": 0.02})", "'shift_terminal'"},
      {R"({"use_karras_sigmas": true})", "'use_karras_sigmas'"},
      {R"({"base_image_seq_len": 4096, "max_image_seq_len": 256})", "'max_image_seq_len'"},
      {R"([1, 2])", "expected a JSON object"},
      {R"({"shift": )", "not valid JSON"},
  };
  for (const auto& [text, want] : cases) {
    try {
      FlowMatchConfig::from_json_text(text, "sched.json");
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("sched.json"), std::string::npos) << m;
      EXPECT_NE(m.find(want), std::string::npos) << text << " -> " << m;
    }
  }
}

}  // namespace
}  // namespace farm::sched
