// TorchGenerator against torch.randn bits (tools/reference/make_noise_reference.py).
#include "farm/rng/torch_generator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tests/rng/safetensors_lite.h"

namespace farm::rng {
namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/noise/";

int64_t count_mismatches(const float* a, const float* b, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad += std::memcmp(a + i, b + i, sizeof(float)) != 0;
  return bad;
}

void check_kernel(NormalKernel kernel, const std::string& key) {
  const auto index = farm::testing::read_json(kDir + "noise_index.json");
  const auto ref = farm::testing::read_safetensors_f32(kDir + index.at("kernels").at(key).get<std::string>());
  int draws = 0;
  for (const auto& c : index.at("cases")) {
    TorchGenerator g(c.at("seed").get<uint64_t>(), kernel);
    for (const auto& d : c.at("draws")) {
      const auto name = d.at("tensor").get<std::string>();
      const auto& want = ref.at(name);
      std::vector<float> got(want.data.size());
      g.randn(got.data(), static_cast<int64_t>(got.size()));
      EXPECT_EQ(count_mismatches(got.data(), want.data.data(), static_cast<int64_t>(got.size())), 0)
          << key << " " << name << " first: got " << got[0] << " want " << want.data[0];
      ++draws;
    }
  }
  EXPECT_GT(draws, 20);
}

TEST(TorchGenerator, BitExactAvx2Kernel) { check_kernel(NormalKernel::avx2, "avx2"); }

TEST(TorchGenerator, BitExactScalarKernel) { check_kernel(NormalKernel::scalar, "default"); }

TEST(TorchGenerator, KernelsDifferSoTheTestCanTellThemApart) {
  std::vector<float> a(64), b(64);
  TorchGenerator(42, NormalKernel::avx2).randn(a.data(), 64);
  TorchGenerator(42, NormalKernel::scalar).randn(b.data(), 64);
  EXPECT_NE(count_mismatches(a.data(), b.data(), 64), 0);
}

TEST(TorchGenerator, SeedKeepsLow32Bits) {
  std::vector<float> a(20), b(20);
  TorchGenerator((uint64_t{1} << 32) + 5).randn(a.data(), 20);
  TorchGenerator(5).randn(b.data(), 20);
  EXPECT_EQ(count_mismatches(a.data(), b.data(), 20), 0);
}

TEST(TorchGenerator, RandomSeedIsBelow2To63) {
  for (int i = 0; i < 8; ++i) EXPECT_LT(random_seed(), uint64_t{1} << 63);
}

}  // namespace
}  // namespace farm::rng
