#include "farm/sched/scheduler_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "farm/core/error.h"
#include "farm/sched/flow_euler.h"

namespace farm::sched {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  // A present, non-null key.
  const json* get(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  [[noreturn]] void bad(const char* key, const std::string& expected) const {
    std::string got = j_.contains(key) ? j_.at(key).dump() : "nothing";
    if (got.size() > 80) got = got.substr(0, 80) + "...";
    fail("scheduler config ", source_, ": field '", key, "' expected ", expected, ", got ", got);
  }

  void read(const char* key, int& out) const {
    if (const json* v = get(key)) {
      if (!v->is_number_integer()) bad(key, "an integer");
      out = v->get<int>();
    }
  }
  void read(const char* key, double& out) const {
    if (const json* v = get(key)) {
      if (!v->is_number()) bad(key, "a number");
      out = v->get<double>();
    }
  }
  void read(const char* key, std::optional<double>& out) const {
    if (get(key)) {
      double d = 0;
      read(key, d);
      out = d;
    }
  }
  void read(const char* key, std::optional<bool>& out) const {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) bad(key, "true or false");
      out = v->get<bool>();
    }
  }
  void read_choice(const char* key, std::string& out, const std::vector<std::string>& allowed,
                   const std::string& note = "") const {
    const json* v = get(key);
    if (!v) return;
    if (v->is_string()) {
      for (const auto& a : allowed) {
        if (a == v->get<std::string>()) {
          out = a;
          return;
        }
      }
    }
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + ("\"" + a + "\"");
    bad(key, "one of " + list + note);
  }
  // Options farm does not implement: allowed only at their no-op value.
  void require_bool(const char* key, bool value_needed) const {
    std::optional<bool> v;
    read(key, v);
    if (v && *v != value_needed) bad(key, cat(value_needed ? "true" : "false", " (the other setting is not supported by farm)"));
  }
  void require_string(const char* key, const std::string& needed) const {
    std::string s = needed;
    read_choice(key, s, {needed}, " (other settings are not supported by farm)");
  }

 private:
  const json& j_;
  const std::string& source_;
};

// Python's json module writes -inf as the bare token -Infinity (diffusers
// saves lambda_min_clipped that way), which strict JSON parsers reject: quote
// such tokens outside strings so they parse as the strings "-Infinity" etc.
std::string quote_python_specials(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      out += ch;
      if (ch == '\\' && i + 1 < text.size()) out += text[++i];
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const std::string t(token);
      if (text.compare(i, t.size(), t) == 0) {
        out += '"' + t + '"';
        i += t.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += ch;
  }
  return out;
}

}  // namespace

SchedulerConfig SchedulerConfig::from_json_text(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(quote_python_specials(text));
  } catch (const json::exception& e) {  // a number too large to hold is out_of_range, not a parse_error
    fail("scheduler config ", source, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail("scheduler config ", source, ": expected a JSON object");
  SchedulerConfig c;
  c.source = source;
  Reader r(j, source);
  r.read("num_train_timesteps", c.num_train_timesteps);
  if (c.num_train_timesteps < 2 || c.num_train_timesteps > 100000) r.bad("num_train_timesteps", "an integer in [2, 100000]");
  r.read("beta_start", c.beta_start);
  r.read("beta_end", c.beta_end);
  if (!(c.beta_start > 0 && c.beta_start < 1)) r.bad("beta_start", "a number in (0, 1)");
  if (!(c.beta_end > 0 && c.beta_end < 1)) r.bad("beta_end", "a number in (0, 1)");
  r.read_choice("beta_schedule", c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  if (const json* tb = r.get("trained_betas")) {
    if (!tb->is_array() || tb->size() != static_cast<size_t>(c.num_train_timesteps)) {
      r.bad("trained_betas", cat("null or a list of num_train_timesteps (", c.num_train_timesteps, ") numbers"));
    }
    for (const auto& b : *tb) {
      if (!b.is_number() || !(b.get<double>() > 0 && b.get<double>() < 1)) r.bad("trained_betas", "numbers in (0, 1)");
      c.trained_betas.push_back(b.get<double>());
    }
  }
  r.read_choice("prediction_type", c.prediction_type, {"epsilon", "v_prediction"},
                " (\"sample\" and \"flow_prediction\" models are not supported by farm)");
  std::string spacing;
  r.read_choice("timestep_spacing", spacing, {"leading", "trailing", "linspace"});
  if (!spacing.empty()) c.timestep_spacing = spacing;
  r.read("steps_offset", c.steps_offset);
  if (c.steps_offset < 0 || c.steps_offset >= c.num_train_timesteps) r.bad("steps_offset", "an integer in [0, num_train_timesteps)");
  r.read("set_alpha_to_one", c.set_alpha_to_one);
  r.read("clip_sample", c.clip_sample);
  r.read("clip_sample_range", c.clip_sample_range);
  if (!(c.clip_sample_range > 0)) r.bad("clip_sample_range", "a positive number");
  r.read("sigma_min", c.sigma_min);
  r.read("sigma_max", c.sigma_max);
  if (c.sigma_min && !(*c.sigma_min > 0)) r.bad("sigma_min", "null or a positive number");
  if (c.sigma_max && !(*c.sigma_max > 0)) r.bad("sigma_max", "null or a positive number");

  // Keys of these classes that change the arithmetic and that farm does not
  // implement: accepted only at the value that makes them no-ops.
  r.require_bool("thresholding", false);
  r.require_bool("rescale_betas_zero_snr", false);
  r.require_bool("use_exponential_sigmas", false);
  r.require_bool("use_beta_sigmas", false);
  r.require_bool("use_lu_lambdas", false);
  r.require_bool("use_flow_sigmas", false);
  r.require_bool("use_dynamic_shifting", false);
  r.require_string("interpolation_type", "linear");
  r.require_string("timestep_type", "discrete");
  r.require_string("final_sigmas_type", "zero");
  if (r.get("variance_type")) r.bad("variance_type", "null (learned variance is not supported by farm)");
  if (const json* v = r.get("lambda_min_clipped")) {
    const bool minus_inf = v->is_string() && v->get<std::string>() == "-Infinity";
    if (!minus_inf) r.bad("lambda_min_clipped", "null or -inf (clipping is not supported by farm)");
  }
  return c;
}

SchedulerConfig SchedulerConfig::from_json_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("scheduler config ", path, ": cannot open file");
  std::stringstream s;
  s << f.rdbuf();
  return from_json_text(s.str(), path);
}

FlowMatchConfig FlowMatchConfig::from_json_text(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(quote_python_specials(text));
  } catch (const json::exception& e) {
    fail("scheduler config ", source, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail("scheduler config ", source, ": expected a JSON object");
  Reader r(j, source);
  std::string cls = "FlowMatchEulerDiscreteScheduler";
  r.read_choice("_class_name", cls, {"FlowMatchEulerDiscreteScheduler"}, " (a flow-matching model's scheduler)");
  FlowMatchConfig c;
  r.read("num_train_timesteps", c.num_train_timesteps);
  if (c.num_train_timesteps < 2 || c.num_train_timesteps > 100000) r.bad("num_train_timesteps", "an integer in [2, 100000]");
  r.read("shift", c.shift);
  if (!(c.shift > 0 && c.shift < 1000)) r.bad("shift", "a positive number");
  std::optional<bool> dynamic;
  r.read("use_dynamic_shifting", dynamic);
  c.use_dynamic_shifting = dynamic.value_or(false);
  r.read("base_shift", c.base_shift);
  r.read("max_shift", c.max_shift);
  int base_len = static_cast<int>(c.base_image_seq_len), max_len = static_cast<int>(c.max_image_seq_len);
  r.read("base_image_seq_len", base_len);
  r.read("max_image_seq_len", max_len);
  if (base_len < 1) r.bad("base_image_seq_len", "a positive integer");
  if (max_len <= base_len) r.bad("max_image_seq_len", "an integer above base_image_seq_len");
  c.base_image_seq_len = base_len, c.max_image_seq_len = max_len;
  r.read_choice("time_shift_type", c.time_shift_type, {"exponential", "linear"});
  r.require_bool("invert_sigmas", false);
  r.require_bool("stochastic_sampling", false);
  r.require_bool("use_karras_sigmas", false);
  r.require_bool("use_exponential_sigmas", false);
  r.require_bool("use_beta_sigmas", false);
  if (r.get("shift_terminal")) r.bad("shift_terminal", "null (stretching to a terminal sigma is not supported by farm)");
  return c;
}

FlowMatchConfig FlowMatchConfig::from_json_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("scheduler config ", path, ": cannot open file");
  std::stringstream s;
  s << f.rdbuf();
  return from_json_text(s.str(), path);
}

}  // namespace farm::sched
