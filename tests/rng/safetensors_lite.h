// Test-only reader for the small F32 safetensors reference files (the
// project's mmap reader lives in farm/io; tests of rng/sched must not depend
// on it). Whole file in memory; F32 only.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace farm::testing {

struct RefTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline std::map<std::string, RefTensor> read_safetensors_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) throw std::runtime_error(path + ": too short");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian host assumed (x86-64)
  if (8 + header_len > bytes.size()) throw std::runtime_error(path + ": bad header length");
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_len));
  const char* base = bytes.data() + 8 + header_len;
  std::map<std::string, RefTensor> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    if (info.at("dtype") != "F32") throw std::runtime_error(path + ": " + name + " is not F32");
    RefTensor t;
    t.shape = info.at("shape").get<std::vector<int64_t>>();
    const auto off = info.at("data_offsets").get<std::vector<uint64_t>>();
    t.data.resize((off[1] - off[0]) / sizeof(float));
    std::memcpy(t.data.data(), base + off[0], off[1] - off[0]);
    out.emplace(name, std::move(t));
  }
  return out;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

}  // namespace farm::testing
