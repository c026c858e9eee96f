// Typed reads from a JSON config file (config.json, scheduler_config.json,
// model_index.json) with errors that name the file and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace farm {

class JsonConfig {
 public:
  static JsonConfig load(const std::string& path);  // missing file / bad JSON -> error naming the file
  JsonConfig(std::string path, nlohmann::json j) : path_(std::move(path)), j_(std::move(j)) {}

  const std::string& path() const { return path_; }
  const nlohmann::json& json() const { return j_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }

  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_number(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  // An int or a list of ints; an int is repeated `n` times (diffusers allows both).
  std::vector<int64_t> get_int_or_list(const std::string& key, size_t n, int64_t fallback) const;

  // Error: "PATH: field 'key': MSG".
  [[noreturn]] void bad(const std::string& key, const std::string& msg) const;
  // The field, when set, must equal one of the allowed values (as JSON); else an error.
  void require_one_of(const std::string& key, const std::vector<nlohmann::json>& allowed) const;

 private:
  std::string path_;
  nlohmann::json j_;
};

}  // namespace farm
