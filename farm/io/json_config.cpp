#include "farm/io/json_config.h"

#include <filesystem>
#include <fstream>

#include "farm/core/error.h"

namespace farm {

JsonConfig JsonConfig::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(path, ": config file is missing");
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read config file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail(path, ": expected a JSON object at top level");
  return JsonConfig(path, std::move(j));
}

void JsonConfig::bad(const std::string& key, const std::string& msg) const {
  fail(path_, ": field '", key, "': ", msg);
}

int64_t JsonConfig::get_int(const std::string& key) const {
  if (!has(key)) bad(key, "missing (expected an integer)");
  const auto& v = j_[key];
  if (!v.is_number_integer()) bad(key, "expected an integer, got " + v.dump());
  return v.get<int64_t>();
}

int64_t JsonConfig::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double JsonConfig::get_number(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_number()) bad(key, "expected a number, got " + v.dump());
  return v.get<double>();
}

bool JsonConfig::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  if (!v.is_boolean()) bad(key, "expected true or false, got " + v.dump());
  return v.get<bool>();
}

std::string JsonConfig::get_string(const std::string& key) const {
  if (!has(key)) bad(key, "missing (expected a string)");
  const auto& v = j_[key];
  if (!v.is_string()) bad(key, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::string JsonConfig::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::vector<int64_t> JsonConfig::get_int_list(const std::string& key) const {
  if (!has(key)) bad(key, "missing (expected a list of integers)");
  const auto& v = j_[key];
  if (!v.is_array() || v.empty()) bad(key, "expected a non-empty list of integers, got " + v.dump());
  std::vector<int64_t> r;
  for (const auto& x : v) {
    if (!x.is_number_integer()) bad(key, "expected a list of integers, got " + v.dump());
    r.push_back(x.get<int64_t>());
  }
  return r;
}

std::vector<std::string> JsonConfig::get_string_list(const std::string& key) const {
  if (!has(key)) bad(key, "missing (expected a list of strings)");
  const auto& v = j_[key];
  if (!v.is_array() || v.empty()) bad(key, "expected a non-empty list of strings, got " + v.dump());
  std::vector<std::string> r;
  for (const auto& x : v) {
    if (!x.is_string()) bad(key, "expected a list of strings, got " + v.dump());
    r.push_back(x.get<std::string>());
  }
  return r;
}

std::vector<int64_t> JsonConfig::get_int_or_list(const std::string& key, size_t n, int64_t fallback) const {
  if (!has(key)) return std::vector<int64_t>(n, fallback);
  const auto& v = j_[key];
  if (v.is_number_integer()) return std::vector<int64_t>(n, v.get<int64_t>());
  auto r = get_int_list(key);
  if (r.size() != n) bad(key, cat("expected ", n, " entries (one per block), got ", r.size()));
  return r;
}

void JsonConfig::require_one_of(const std::string& key, const std::vector<nlohmann::json>& allowed) const {
  if (!j_.contains(key)) return;
  const auto& v = j_[key];
  for (const auto& a : allowed)
    if (v == a) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a.dump();
  bad(key, "value " + v.dump() + " is not supported (supported: " + list + ")");
}

}  // namespace farm
