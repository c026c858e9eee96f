// `farm render` without --width/--height renders at the model's native size,
// as diffusers' pipeline defaults it: unet sample_size × 2^(VAE levels - 1),
// read here straight from the model folder's configs. A --config file or a
// flag still wins.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "farm/coord/png.h"

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// diffusers: height = unet.config.sample_size * vae_scale_factor,
// vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1).
int diffusers_default_side(const fs::path& model) {
  const int sample = read_json(model / "unet" / "config.json")["sample_size"];
  const size_t levels = read_json(model / "vae" / "config.json")["block_out_channels"].size();
  return sample << (levels - 1);
}

class DefaultSize : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("farm_default_size_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                                         fs::path(GetParam()).filename().string());
    fs::remove_all(root_);
    fs::create_directories(root_);
    std::ofstream(root_ / "prompts.txt") << "a red circle\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  // Renders one prompt (1 step) and returns the PNG's size.
  std::pair<int, int> render(const std::string& extra) {
    const fs::path out = root_ / "out";
    fs::remove_all(out);
    const std::string cmd = std::string(FARM_BIN) + " render --model " + model().string() + " --prompts " +
                            (root_ / "prompts.txt").string() + " --out " + out.string() + " --steps 1 --seed 3 " +
                            extra + " >" + (root_ / "log").string() + " 2>&1";
    const int st = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << cmd;
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().extension() == ".png") {
        const farm::DecodedPng png = farm::decode_png_file(e.path().string());
        return {png.width, png.height};
      }
    ADD_FAILURE() << "no PNG in " << out;
    return {0, 0};
  }
  fs::path model() const { return fs::path(FARM_TEST_DATA) / GetParam(); }
  fs::path root_;
};

TEST_P(DefaultSize, IsTheModelsNativeSize) {
  const int side = diffusers_default_side(model());
  EXPECT_EQ(render(""), std::make_pair(side, side));
}

TEST_P(DefaultSize, ConfigFileAndFlagsOverrideIt) {
  std::ofstream(root_ / "job.toml") << "width = 48\nheight = 24\n";
  EXPECT_EQ(render("--config " + (root_ / "job.toml").string()), std::make_pair(48, 24));
  EXPECT_EQ(render("--config " + (root_ / "job.toml").string() + " --height 40"), std::make_pair(48, 40));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, DefaultSize, ::testing::Values("tiny-sd1", "tiny-sd2"),
                         [](const auto& info) { return std::string(info.param) == "tiny-sd1" ? "sd1" : "sd2"; });

}  // namespace
