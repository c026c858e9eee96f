// FLOPs against PyTorch's FlopCounterMode on diffusers/transformers models
// built from the same configs (tests/partition/make_flops_reference.py):
// every UNet block, the text encoder and the VAE decode, including odd latent
// sizes (9×13, 60×44) where the down path rounds up and the up path resizes
// to the skip's size.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "partition/cost_model.h"

namespace farm::partition {
namespace {

TEST(FlopsReference, MatchesTorchFlopCounter) {
  const std::string path = std::string(FARM_SOURCE_DIR) + "/tests/partition/data/flops_reference.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const auto cases = nlohmann::json::parse(in);
  ASSERT_GE(cases.size(), 6u);
  for (const auto& k : cases) {
    const std::string model = k["model"];
    SCOPED_TRACE(testing::Message() << model << " " << k["latent_h"] << "x" << k["latent_w"]);
    const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/" + model);
    Workload w;
    w.latent_h = k["latent_h"];
    w.latent_w = k["latent_w"];
    w.guidance = k["rows"] == 2;
    w.text_len = k["text_len"];
    ASSERT_EQ(w.rows(), k["rows"].get<int64_t>());
    const ModelCosts c = estimate_costs(m, w, device_profile("cpu"));
    const auto& ref = k["unet"]["blocks"];
    double total = 0;
    for (const auto& b : c.blocks) {
      ASSERT_TRUE(ref.contains(b.name)) << b.name;
      EXPECT_DOUBLE_EQ(b.flops, ref[b.name].get<double>()) << b.name;
      total += b.flops;
    }
    EXPECT_EQ(ref.size(), c.blocks.size());
    EXPECT_DOUBLE_EQ(total, k["unet"]["total"].get<double>());
    EXPECT_DOUBLE_EQ(c.text_flops, k["text_encoder"].get<double>());
    EXPECT_DOUBLE_EQ(c.vae_flops, k["vae_decode_one_image"].get<double>());
  }
}

}  // namespace
}  // namespace farm::partition
