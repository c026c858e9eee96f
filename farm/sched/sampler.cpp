#include "farm/sched/sampler.h"

#include <cctype>
#include <utility>

#include "farm/core/error.h"
#include "farm/sched/sampler_impls.h"

namespace farm::sched {
namespace {

const std::vector<std::pair<std::string, std::string>>& names() {
  static const std::vector<std::pair<std::string, std::string>> kNames = {
      {"ddim", "DDIM"},
      {"euler", "Euler"},
      {"euler_karras", "Euler Karras"},
      {"euler_a", "Euler a"},
      {"euler_a_karras", "Euler a Karras"},
      {"dpmpp_2m", "DPM++ 2M"},
      {"dpmpp_2m_karras", "DPM++ 2M Karras"},
      {"flow_euler", "Flow Euler"},  // flow-matching models only (Z-Image): flow_euler.h
  };
  return kNames;
}

}  // namespace

bool is_known_sampler(const std::string& name) {
  for (const auto& [key, display] : names()) {
    if (key == name) return true;
  }
  return false;
}

const std::vector<std::string>& known_samplers() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& [key, display] : names()) keys.push_back(key);
    return keys;
  }();
  return kKeys;
}

std::string sampler_display_name(const std::string& name) {
  for (const auto& [key, display] : names()) {
    if (key == name) return display;
  }
  FARM_ASSERT(false, "sampler_display_name of unknown sampler '", name, "'");
  return {};
}

std::string canonical_sampler(const std::string& name) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string n = lower(name);
  for (const auto& [key, display] : names())
    if (n == key || n == lower(display)) return key;
  return {};
}

std::string sampler_names_list() {
  std::string keys, shown;
  for (const auto& [key, display] : names()) {
    keys += (keys.empty() ? "" : ", ") + key;
    shown += (shown.empty() ? "" : ", ") + display;
  }
  return cat(keys, " (or as A1111 writes them: ", shown, ")");
}

void Sampler::scale_model_input(int i, const float* x, float* out, int64_t n) const {
  const float d = input_divisor_.at(i);
  for (int64_t k = 0; k < n; ++k) out[k] = x[k] / d;
}

void check_schedule(const std::vector<float>& timesteps, const SchedulerConfig& cfg, const char* sampler, int steps) {
  if (timesteps.size() >= 2 && timesteps[0] == timesteps[1]) {
    fail("scheduler config ", cfg.source, ": sampler ", sampler, " with ", steps, " steps and beta_schedule '",
         cfg.beta_schedule, "' repeats its first timestep ", timesteps[0],
         " (diffusers cannot run this schedule either); choose another sampler or step count");
  }
}

std::unique_ptr<Sampler> make_sampler(const std::string& name, const SchedulerConfig& cfg, int steps) {
  if (!is_known_sampler(name)) fail("unknown sampler '", name, "': expected one of ", sampler_names_list());
  if (steps < 1 || steps > cfg.num_train_timesteps) {
    fail("sampler ", name, ": steps must be in [1, ", cfg.num_train_timesteps, "] (num_train_timesteps of ", cfg.source,
         "), got ", steps);
  }
  if (name == "flow_euler")
    fail("sampler flow_euler: a flow-matching sampler (Z-Image's); this model's UNet takes ddim, euler, euler_a, "
         "dpmpp_2m and their karras variants");
  if (name == "ddim") return make_ddim(cfg, steps);
  if (name == "euler") return make_euler(cfg, steps, false, false);
  if (name == "euler_karras") return make_euler(cfg, steps, true, false);
  if (name == "euler_a") return make_euler(cfg, steps, false, true);
  if (name == "euler_a_karras") return make_euler(cfg, steps, true, true);
  if (name == "dpmpp_2m") return make_dpmpp_2m(cfg, steps, false);
  return make_dpmpp_2m(cfg, steps, true);
}

}  // namespace farm::sched
