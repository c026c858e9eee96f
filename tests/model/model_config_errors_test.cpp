// Model config.json values that would break the arithmetic right after
// loading (a division by zero groups, a shift or product past 64 bits in the
// sizes `farm plan` derives) are errors naming the file and field. Each case
// is a tiny-sd1 config with one field changed; the inputs are kept in
// fuzz/corpus/model_config/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "farm/core/error.h"
#include "farm/model/unet_config.h"
#include "farm/model/vae_decoder.h"

namespace fs = std::filesystem;
using namespace farm;

namespace {

const std::string kModel = std::string(FARM_TEST_DATA) + "/tiny-sd1";

// The component's config with `edit` applied, written to a fresh file.
std::string edited_config(const std::string& component, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(kModel + "/" + component + "/config.json"));
  edit(j);
  const fs::path dir = fs::path(::testing::TempDir()) / ("farm_model_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / (component + ".json")).string();
  std::ofstream(path) << j.dump();
  return path;
}

template <class Load>
void expect_bad_field(Load load, const std::string& path, const std::string& field) {
  try {
    load(path);
    ADD_FAILURE() << "no error for " << path << " (" << field << ")";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path + ": field '" + field + "'"), std::string::npos) << message;
  }
}

TEST(ModelConfigErrors, UNetGroupsChannelsAndSampleSize) {
  const auto load = [](const std::string& p) { return model::UNetConfig::load(p); };
  expect_bad_field(load, edited_config("unet", [](auto& j) { j["norm_num_groups"] = 0; }), "norm_num_groups");
  expect_bad_field(load, edited_config("unet", [](auto& j) { j["norm_num_groups"] = -8; }), "norm_num_groups");
  expect_bad_field(load, edited_config("unet", [](auto& j) { j["sample_size"] = int64_t{1} << 62; }), "sample_size");
  expect_bad_field(load, edited_config("unet", [](auto& j) { j["sample_size"] = -64; }), "sample_size");
  expect_bad_field(load,
                   edited_config("unet",
                                 [](auto& j) {
                                   for (auto& ch : j["block_out_channels"]) ch = int64_t{1} << 62;
                                   j["norm_num_groups"] = 1;
                                 }),
                   "block_out_channels");
  EXPECT_EQ(model::UNetConfig::load(edited_config("unet", [](auto&) {})).sample_size,
            model::UNetConfig::load(kModel + "/unet/config.json").sample_size);
}

TEST(ModelConfigErrors, VaeGroupsAndLevels) {
  const auto load = [](const std::string& p) { return model::VaeConfig::load(p); };
  expect_bad_field(load, edited_config("vae", [](auto& j) { j["norm_num_groups"] = 0; }), "norm_num_groups");
  expect_bad_field(load, edited_config("vae", [](auto& j) { j["norm_num_groups"] = -8; }), "norm_num_groups");
  const auto levels = [](size_t n) {
    return [n](nlohmann::json& j) {
      const auto first = j["block_out_channels"][0];
      j["block_out_channels"] = nlohmann::json::array();
      for (size_t i = 0; i < n; ++i) j["block_out_channels"].push_back(first);
      j.erase("up_block_types");
      j.erase("down_block_types");
    };
  };
  expect_bad_field(load, edited_config("vae", levels(65)), "block_out_channels");
  EXPECT_EQ(model::VaeConfig::load(edited_config("vae", levels(16))).scale_factor(), 1 << 15);
}

}  // namespace
