#include "tests/kernels/golden_file.h"

#include <bit>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace farm::kernels::testing {

static_assert(std::endian::native == std::endian::little, "goldens.bin is little-endian float32");

std::map<std::string, GoldenCase> load_goldens(const std::string& dir) {
  const std::string json_path = dir + "/goldens.json";
  std::ifstream jf(json_path);
  if (!jf) throw std::runtime_error(json_path + ": cannot open");
  const nlohmann::json index = nlohmann::json::parse(jf);

  const std::string bin_path = dir + "/" + index.at("bin").get<std::string>();
  std::ifstream bf(bin_path, std::ios::binary);
  if (!bf) throw std::runtime_error(bin_path + ": cannot open");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(bf)),
                                std::istreambuf_iterator<char>());
  if (bytes.size() % sizeof(float) != 0)
    throw std::runtime_error(bin_path + ": size is not a multiple of 4 bytes");
  const auto* floats = reinterpret_cast<const float*>(bytes.data());
  const int64_t total = static_cast<int64_t>(bytes.size() / sizeof(float));

  std::map<std::string, GoldenCase> cases;
  for (const auto& entry : index.at("cases")) {
    GoldenCase gc;
    gc.op = entry.at("op").get<std::string>();
    for (const auto& [name, t] : entry.at("tensors").items()) {
      GoldenTensor tensor;
      tensor.shape = t.at("shape").get<std::vector<int64_t>>();
      int64_t count = 1;
      for (int64_t d : tensor.shape) count *= d;
      const int64_t offset = t.at("offset").get<int64_t>();
      if (offset < 0 || offset + count > total)
        throw std::runtime_error(json_path + ": tensor '" + name + "' of case '" +
                                 entry.at("name").get<std::string>() + "' lies outside " +
                                 bin_path);
      tensor.data.assign(floats + offset, floats + offset + count);
      gc.tensors.emplace(name, std::move(tensor));
    }
    cases.emplace(entry.at("name").get<std::string>(), std::move(gc));
  }
  return cases;
}

}  // namespace farm::kernels::testing
