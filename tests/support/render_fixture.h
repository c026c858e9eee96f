// What the end-to-end render tests share: a fresh folder per test (removed
// after it), files written there, and how far a PNG is from a diffusers image.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "farm/coord/png.h"
#include "farm/core/tensor.h"

namespace farm::test {

class RenderFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("farm_render_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (root_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::filesystem::path root_;
};

// Max level difference between a PNG and a diffusers image [1,H,W,3] in [0, 1]
// (256 when the sizes differ).
inline int levels_off(const DecodedPng& png, const Tensor& want) {
  if (png.rgb.size() != want.data.size()) return 256;
  int off = 0;
  for (size_t k = 0; k < want.data.size(); ++k)
    off = std::max(off, std::abs(int(png.rgb[k]) - int(std::nearbyint(want.data[k] * 255.0f))));
  return off;
}

}  // namespace farm::test
