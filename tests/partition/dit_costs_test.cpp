// The DiT's cost model (partition/dit_costs.h) on Z-Image-Turbo's config and
// the tiny test model: per-block parameters against diffusers'/transformers'
// meta-device counts (tests/data/zimage_params.json), FLOPs against the
// figures torch's FlopCounterMode gave for Z-Image-Turbo at 1024² with a
// 128-token caption (1.77 TFLOP per main block, 56.6 TFLOP per step: issue
// 15), the ring's bytes per cut by hand, and a memory cap forcing stages.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "partition/cost_model.h"
#include "partition/partitioner.h"

namespace farm::partition {
namespace {

const std::string kTurbo = std::string(FARM_SOURCE_DIR) + "/configs/z-image-turbo";

ModelCosts turbo_costs(int64_t side, bool cfg, const char* device = "h100", int64_t caption = 128) {
  const ModelShape m = ModelShape::from_folder(kTurbo);
  Workload w;
  w.latent_h = w.latent_w = side / 8;
  w.guidance = cfg;
  w.steps = 8;
  w.text_len = caption;
  return estimate_costs(m, w, device_profile(device));
}

TEST(DitCosts, ParametersAsDiffusersCountsThem) {
  std::ifstream in(std::string(FARM_TEST_DATA) + "/zimage_params.json");
  ASSERT_TRUE(in);
  const auto ref = nlohmann::json::parse(in);
  for (const std::string dir : {"configs/z-image-turbo", "tests/data/tiny-zimage"}) {
    SCOPED_TRACE(dir);
    const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/" + dir);
    ASSERT_TRUE(m.dit && m.qwen3);
    const ModelCosts c = estimate_costs(m, Workload{}, device_profile("cpu"));
    const auto& blocks = ref.at(dir).at("transformer");
    ASSERT_EQ(c.blocks.size(), blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      EXPECT_EQ(c.blocks[i].name, blocks[i][0].get<std::string>());
      EXPECT_EQ(c.blocks[i].params, blocks[i][1].get<int64_t>()) << c.blocks[i].name;
    }
    int64_t text = 0;
    for (const auto& b : ref.at(dir).at("text_encoder")) text += b[1].get<int64_t>();
    EXPECT_EQ(c.text_params, text);  // the layers the pipeline runs (the last one never is)
    EXPECT_EQ(c.vae_params, ref.at(dir).at("vae_decoder").get<int64_t>());
  }
}

TEST(DitCosts, TurboFlopsAsTorchCountsThem) {
  const ModelCosts c = turbo_costs(1024, false);
  double step = 0;
  for (const auto& b : c.blocks) step += b.flops;
  EXPECT_NEAR(step / 56.6e12, 1.0, 0.005);
  for (const auto& b : c.blocks) {
    if (b.kind_name == "layer") {
      EXPECT_NEAR(b.flops / 1.77e12, 1.0, 0.005) << b.name;
    }
  }
  // CFG runs a second row (the negative prompt) through every block and the encoder.
  const ModelCosts g = turbo_costs(1024, true);
  EXPECT_DOUBLE_EQ(g.blocks[10].flops, 2 * c.blocks[10].flops);
  EXPECT_DOUBLE_EQ(g.text_flops, 2 * c.text_flops);
  EXPECT_DOUBLE_EQ(g.vae_flops, c.vae_flops);  // one image per item either way
}

TEST(DitCosts, BytesPerCutByHand) {
  // 1024²: 64 x 64 = 4096 image tokens + 128 caption tokens (both already
  // multiples of 32), dim 3840, bf16 on an H100 profile; the adaLN input
  // [1, 256] and the token grid [1, 2] in fp32 ride along.
  const ModelCosts c = turbo_costs(1024, false);
  const size_t n = c.blocks.size();
  for (size_t i = 1; i < n; ++i) EXPECT_DOUBLE_EQ(c.hidden_msg_bytes[i], 4224.0 * 3840 * 2 + 256 * 2 + 8) << i;
  EXPECT_DOUBLE_EQ(c.hidden_msg_bytes[0], 128.0 * 128 * 16 * 4);  // the items' latents, fp32, back to stage 0
  EXPECT_DOUBLE_EQ(c.hidden_msg_bytes[n], c.hidden_msg_bytes[0]);
  EXPECT_TRUE(c.skips.empty());
  EXPECT_EQ(c.context_bytes, 0);  // captions stay on stage 0
  // A 20-token caption pads to 32; 512x768: 32 x 48 = 1536 image tokens.
  const ModelShape m = ModelShape::from_folder(kTurbo);
  Workload w;
  w.latent_h = 96, w.latent_w = 64, w.text_len = 20, w.guidance = true;
  const ModelCosts s = estimate_costs(m, w, device_profile("cpu"));
  EXPECT_DOUBLE_EQ(s.hidden_msg_bytes[5], 2 * ((1536.0 + 32) * 3840 * 4 + 256 * 4 + 8));
}

TEST(DitCosts, MemoryCapForcesStages) {
  const ModelCosts c = turbo_costs(1024, false);
  const Plan whole = partition(c, 1, 1);
  EXPECT_GT(whole.stage[0].weight_bytes, 20e9);  // 6.15 B + 3.92 B + 0.05 B parameters in bf16
  EXPECT_LT(whole.stage[0].memory_bytes, 24e9);  // a 24 GB card holds all of it
  PlanOptions o;
  o.memory_cap_bytes = 16e9;
  const auto plans = plans_for_ranks(c, 4, o);
  ASSERT_FALSE(plans.empty());
  for (const auto& p : plans) {
    EXPECT_GE(p.stages, 2) << p.pipelines << " x " << p.stages;
    for (const auto& s : p.stage) EXPECT_LE(s.memory_bytes, 16e9);
  }
  // Stage 0 also holds the text encoder, the last the VAE; the noise refiners
  // cost a main layer each, the context refiners (128 tokens) little: the
  // split still balances every stage within 10% of the mean.
  const Plan four = partition(c, 1, 4, o);
  EXPECT_TRUE(four.stage[0].text_encoder);
  EXPECT_TRUE(four.stage[3].vae);
  double mean = 0;
  for (const auto& s : four.stage) mean += s.compute_s / 4;
  for (const auto& s : four.stage) EXPECT_LT(s.compute_s, 1.1 * mean);
}

}  // namespace
}  // namespace farm::partition
