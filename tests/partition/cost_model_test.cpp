// The cost model against independent numbers: parameter counts against the
// tensors stored in real checkpoints and published model sizes, cut bytes
// against hand arithmetic from the config, level sizes against torch's conv
// output formula.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "partition/block_costs.h"
#include "partition/cost_model.h"

namespace farm::partition {
namespace {

namespace fs = std::filesystem;

// Element counts of every tensor in a model part's safetensors files.
std::map<std::string, int64_t> tensor_sizes(const std::string& dir) {
  std::map<std::string, int64_t> sizes;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".safetensors") continue;
    const SafetensorsFile file(f.path().string());
    for (const auto& [name, e] : file.entries()) {
      int64_t n = 1;
      for (auto d : e.shape) n *= d;
      sizes[name] = n;
    }
  }
  EXPECT_FALSE(sizes.empty()) << dir;
  return sizes;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

class ParamCounts : public ::testing::TestWithParam<std::string> {};

TEST_P(ParamCounts, EveryBlockMatchesTheCheckpoint) {
  const std::string dir = GetParam();
  const ModelShape m = ModelShape::from_folder(dir);
  const auto unet = tensor_sizes(dir + "/unet");
  int64_t unet_total = 0, counted = 0;
  for (const auto& [name, n] : unet) unet_total += n;
  for (const auto& b : m.blocks) {
    std::vector<std::string> prefixes{b.name + "."};
    if (b.kind == model::UNetBlockKind::time_embedding) prefixes = {"time_embedding.", "add_embedding."};
    if (b.kind == model::UNetBlockKind::conv_out) prefixes = {"conv_out.", "conv_norm_out."};
    int64_t stored = 0;
    for (const auto& [name, n] : unet)
      for (const auto& p : prefixes)
        if (starts_with(name, p)) stored += n;
    EXPECT_EQ(unet_block_params(m.unet, b), stored) << dir << ": " << b.name;
    counted += stored;
  }
  EXPECT_EQ(counted, unet_total) << dir << ": every UNet tensor belongs to exactly one block";

  // Every block of every other part's list holds exactly the tensors under its prefix.
  const ModelCosts c = estimate_costs(m, Workload{}, device_profile("cpu"));
  ASSERT_EQ(c.parts.size(), m.text_2 ? 3u : 2u) << dir;
  for (const auto& part : c.parts) {
    const std::string folder = dir + "/" + model::part_name(part.part);
    // Older text encoder files store their keys without "text_model." (the loader takes both).
    std::vector<std::pair<std::string, int64_t>> stored_tensors;
    for (const auto& [key, n] : tensor_sizes(folder)) {
      const bool bare = part.part != model::ModelPart::vae && !starts_with(key, "text_model.") &&
                        key != "text_projection.weight";
      stored_tensors.emplace_back(bare ? "text_model." + key : key, n);
    }
    int64_t listed = 0, total = 0;
    for (const auto& [name, n] : stored_tensors)
      if (name.find("position_ids") == std::string::npos &&
          (part.part != model::ModelPart::vae || (!starts_with(name, "encoder.") && !starts_with(name, "quant_conv."))))
        total += n;
    for (const auto& b : part.blocks) {
      std::vector<std::string> prefixes{b.name + "."};
      if (b.kind_name == "input") prefixes = {"post_quant_conv.", "decoder.conv_in."};
      if (b.kind_name == "output") prefixes = {"decoder.conv_norm_out.", "decoder.conv_out."};
      int64_t stored = 0;
      for (const auto& [name, n] : stored_tensors)
        for (const auto& p : prefixes)
          if (starts_with(name, p) && name.find("position_ids") == std::string::npos) stored += n;
      EXPECT_EQ(b.params, stored) << folder << ": " << b.name;
      listed += stored;
    }
    EXPECT_EQ(listed, total) << folder << ": every tensor belongs to exactly one block";
  }

  if (m.refiner) return;  // its one text encoder is text_encoder_2, listed above
  int64_t text = 0;
  for (const auto& [name, n] : tensor_sizes(dir + "/text_encoder"))
    if (name.find("position_ids") == std::string::npos) text += n;
  EXPECT_EQ(text_encoder_params(m.text), text) << dir;
  if (m.text_2) {
    int64_t text_2 = 0;
    for (const auto& [name, n] : tensor_sizes(dir + "/text_encoder_2"))
      if (name.find("position_ids") == std::string::npos) text_2 += n;
    EXPECT_EQ(text_encoder_params(*m.text_2), text_2) << dir << " (text_encoder_2, with its projection)";
  }

  int64_t vae = 0;
  for (const auto& [name, n] : tensor_sizes(dir + "/vae"))
    if (starts_with(name, "decoder.") || starts_with(name, "post_quant_conv.")) vae += n;
  EXPECT_EQ(vae_decoder_params(m.vae), vae) << dir;
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, ParamCounts,
                         ::testing::Values(std::string(FARM_TEST_DATA) + "/tiny-sd1",
                                           std::string(FARM_TEST_DATA) + "/tiny-sd2",
                                           std::string(FARM_TEST_DATA) + "/tiny-sdxl",
                                           std::string(FARM_TEST_DATA) + "/tiny-sdxl-refiner",
                                           std::string(FARM_SOURCE_DIR) + "/models/tiny-shapes"));

// Published sizes (and diffusers/transformers models built from the same
// configs on the meta device): SD 1.5 UNet 859,520,964, CLIP ViT-L/14 text
// 123,060,480; SD 2.1 UNet 865,910,724, OpenCLIP ViT-H text (23 layers)
// 340,387,840; their VAE decoder + post_quant_conv 49,490,199.
TEST(PublishedSizes, Sd15AndSd21Configs) {
  for (const auto& [dir, unet, text] : {std::tuple{"sd15", 859520964LL, 123060480LL},
                                        std::tuple{"sd21", 865910724LL, 340387840LL}}) {
    const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/configs/" + dir);
    int64_t total = 0;
    for (const auto& b : m.blocks) total += unet_block_params(m.unet, b);
    EXPECT_EQ(total, unet) << dir;
    EXPECT_EQ(text_encoder_params(m.text), text) << dir;
    EXPECT_EQ(vae_decoder_params(m.vae), 49490199) << dir;
  }
}

// SDXL base 1.0 (tools/reference/make_sdxl_config.py counts its models on the
// meta device): UNet 2,567,463,684, CLIP ViT-L/14 text 123,060,480, OpenCLIP
// ViT-bigG text with projection 694,659,840, the same VAE decoder as SD's.
TEST(PublishedSizes, SdxlConfig) {
  const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/configs/sdxl");
  int64_t total = 0;
  for (const auto& b : m.blocks) total += unet_block_params(m.unet, b);
  EXPECT_EQ(total, 2567463684LL);
  EXPECT_EQ(text_encoder_params(m.text), 123060480LL);
  ASSERT_TRUE(m.text_2.has_value());
  EXPECT_EQ(text_encoder_params(*m.text_2), 694659840LL);
  EXPECT_EQ(vae_decoder_params(m.vae), 49490199);
}

TEST(LevelSizes, StrideTwoConvOutputs) {
  // torch Conv2d(k=3, s=2, p=1): out = floor((in + 2 - 3) / 2) + 1.
  EXPECT_EQ(level_sizes(64, 4), (std::vector<int64_t>{64, 32, 16, 8}));
  EXPECT_EQ(level_sizes(9, 4), (std::vector<int64_t>{9, 5, 3, 2}));
  EXPECT_EQ(level_sizes(1, 3), (std::vector<int64_t>{1, 1, 1}));
}

// tiny-sd1 (block_out_channels [32, 64], 2 layers per level, level 0 with
// cross-attention, time_embed_dim 128, cross_attention_dim 32), latent 16×16,
// one item with CFG (rows 2), the cpu profile (fp32, 4 bytes):
//   0 time_embedding  1 conv_in (push A [16,16,32])
//   2 down_blocks.0.resnets.0  3 .attentions.0 (push B [16,16,32])
//   4 down_blocks.0.resnets.1  5 .attentions.1 (push C [16,16,32])
//   6 down_blocks.0.downsamplers.0 (push D [8,8,32])
//   7 down_blocks.1.resnets.0 (push E [8,8,64])  8 .resnets.1 (push F [8,8,64])
//   9-11 mid block; 12-14 up_blocks.0.resnets.0-2 pop F, E, D;
//   15 up_blocks.0.upsamplers.0 (-> 16×16); 16, 18, 20 up_blocks.1.resnets pop C, B, A;
//   17, 19, 21 up_blocks.1.attentions; 22 conv_out.
// The earlier, relaying ring's figure (kept for `farm plan`'s comparison):
// everything crosses every cut. stage_traffic_test.cpp checks the direct ring.
TEST(RelayedCutBytes, TinySd1ByHand) {
  const ModelShape m = ModelShape::from_folder(std::string(FARM_TEST_DATA) + "/tiny-sd1");
  ASSERT_EQ(m.blocks.size(), 23u);
  ASSERT_EQ(m.blocks[7].name, "down_blocks.1.resnets.0");
  ASSERT_EQ(m.blocks[16].name, "up_blocks.1.resnets.0");
  Workload w;
  w.latent_h = w.latent_w = 16;
  const ModelCosts c = estimate_costs(m, w, device_profile("cpu"));
  ASSERT_EQ(c.relayed_cut_bytes.size(), 24u);
  const double temb = 2 * 128, context = 2 * 77 * 32, fixed = 2 * 4 /* timesteps fp32 */ + 256 /* header */;
  // Before block 7 (mid down path): hidden [2,8,8,32] = 4096, skips A, B, C
  // [2,16,16,32] = 16384 each, D [2,8,8,32] = 4096.
  EXPECT_EQ(c.relayed_cut_bytes[7], (4096 + 3 * 16384 + 4096 + temb + context) * 4 + fixed);  // 250376
  EXPECT_EQ(c.relayed_cut_bytes[7], 250376);
  // The skip tensors in push order: A conv_in, B, C the attentions, D the
  // downsampler, E, F down_blocks.1's resnets.
  ASSERT_EQ(c.skips.size(), 6u);
  EXPECT_EQ(c.skips[3].pushed_by, 6u);
  EXPECT_EQ(c.skips[3].popped_by, 14u);
  EXPECT_EQ(c.skips[3].h, 8);
  EXPECT_EQ(c.skips[0].c, 32);
  EXPECT_EQ(c.skips[0].popped_by, 20u);
  EXPECT_EQ(c.skips[5].bytes, 2 * 8 * 8 * 64 * 4);
  EXPECT_EQ(c.cut_hidden[7].h, 8);
  EXPECT_EQ(c.cut_hidden[7].c, 32);
  // Before block 16 (after the upsample): hidden [2,16,16,64] = 32768; C is
  // popped by block 16 itself, so it still crosses; A, B, C remain.
  EXPECT_EQ(c.relayed_cut_bytes[16], (32768 + 3 * 16384 + temb + context) * 4 + fixed);
  // Before block 1: the latent [2,16,16,4] and temb, no skips yet.
  EXPECT_EQ(c.relayed_cut_bytes[1], (2048 + temb + context) * 4 + fixed);
  // The return edge: the latent, context, timesteps; no temb (recomputed).
  EXPECT_EQ(c.relayed_cut_bytes[0], (2048 + context) * 4 + fixed);
  EXPECT_EQ(c.relayed_cut_bytes[23], c.relayed_cut_bytes[0]);
  // Before conv_out (block 22): every skip has been popped.
  EXPECT_EQ(c.relayed_cut_bytes[22], (2 * 16 * 16 * 32 + temb + context) * 4 + fixed);
}

// SD 1.5 at 512×512 (latent 64×64), CFG (rows 2), fp16 (a100 profile), the
// cut before down_blocks.2.resnets.0 (block 12):
//   hidden after down_blocks.1.downsamplers.0 [2,16,16,640]      327,680
//   skips: conv_in, down_blocks.0.attentions.0/1 [2,64,64,320]  3 × 2,621,440
//          down_blocks.0.downsamplers.0 [2,32,32,320]            655,360
//          down_blocks.1.attentions.0/1 [2,32,32,640]           2 × 1,310,720
//          down_blocks.1.downsamplers.0 [2,16,16,640]            327,680
//   temb [2,1280] 2,560; context [2,77,768] 118,272
//   = 11,917,312 elements × 2 bytes = 23,834,624, + timesteps 2 × 4 + header 256
//   = 23,834,888 bytes.
TEST(RelayedCutBytes, Sd15At512ByHand) {
  const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/configs/sd15");
  ASSERT_EQ(m.blocks[12].name, "down_blocks.2.resnets.0");
  const ModelCosts c = estimate_costs(m, Workload{}, device_profile("a100"));
  EXPECT_EQ(c.relayed_cut_bytes[12], 23834888);
  // The return edge: latent [2,64,64,4] 32,768 + context 118,272 elements.
  EXPECT_EQ(c.relayed_cut_bytes[0], (32768 + 118272) * 2 + 8 + 256);
  // The direct ring's messages at the same cuts: the hidden state, timesteps
  // and temb only (327,680 + 2,560 elements × 2 + 8); the return's latent in fp32.
  EXPECT_EQ(c.hidden_msg_bytes[12], (327680 + 2560) * 2 + 8);
  EXPECT_EQ(c.hidden_msg_bytes[0], 32768 * 4 + 8);
  EXPECT_EQ(c.context_bytes, 118272 * 2);
}

// One resnet and one transformer of SD 1.5 at 64×64, FLOPs by hand.
TEST(BlockFlops, Sd15ByHand) {
  const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/configs/sd15");
  Workload w;  // 64×64 latent, rows 2
  const ModelCosts c = estimate_costs(m, w, device_profile("a100"));
  auto find = [&](const std::string& name) {
    for (const auto& b : c.blocks)
      if (b.name == name) return b;
    ADD_FAILURE() << name;
    return BlockCost{};
  };
  // down_blocks.1.resnets.0: 320 -> 640 at 32×32: conv1 1024·320·640·9,
  // conv2 1024·640·640·9, shortcut 1024·320·640, temb 1280·640 MACs per row.
  const double r = 1024.0 * 320 * 640 * 9 + 1024.0 * 640 * 640 * 9 + 1024.0 * 320 * 640 + 1280.0 * 640;
  EXPECT_DOUBLE_EQ(find("down_blocks.1.resnets.0").flops, 2 * 2 * r);
  // down_blocks.0.attentions.0: C 320, n 4096 tokens, context 77×768:
  // proj_in+out 2nC², attn1 4nC² + 2n²C, attn2 2nC² + 2·77·768·C + 2·n·77·C, ff 12nC².
  const double n = 4096, C = 320;
  const double t = 2 * n * C * C + 4 * n * C * C + 2 * n * n * C + 2 * n * C * C + 2 * 77 * 768 * C +
                   2 * n * 77 * C + 12 * n * C * C;
  EXPECT_DOUBLE_EQ(find("down_blocks.0.attentions.0").flops, 2 * 2 * t);
  // down_blocks.0.downsamplers.0 writes 32×32: 1024·320·320·9.
  EXPECT_DOUBLE_EQ(find("down_blocks.0.downsamplers.0").flops, 2 * 2 * 1024.0 * 320 * 320 * 9);
  // up_blocks.2.upsamplers.0 (level 1 -> 64×64, 640 channels): 4096·640·640·9.
  EXPECT_DOUBLE_EQ(find("up_blocks.2.upsamplers.0").flops, 2 * 2 * 4096.0 * 640 * 640 * 9);
  // fp16 weights on the a100 profile.
  EXPECT_EQ(find("conv_in").weight_bytes, (4 * 320 * 9 + 320) * 2);
}

TEST(ModelShape, MissingConfigNamesTheFile) {
  const fs::path dir = fs::temp_directory_path() / "farm_partition_missing";
  fs::remove_all(dir);
  fs::create_directories(dir / "unet");
  fs::copy_file(std::string(FARM_TEST_DATA) + "/tiny-sd1/unet/config.json", dir / "unet/config.json");
  try {
    ModelShape::from_folder(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text_encoder/config.json"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
  EXPECT_THROW(ModelShape::from_folder(dir.string()), Error);
}

TEST(DeviceProfile, UnknownNameListsTheKnownOnes) {
  EXPECT_EQ(device_profile("a100").element_bytes, 2);
  try {
    device_profile("tpu");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'tpu'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu, a100, h100"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace farm::partition
