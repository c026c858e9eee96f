// Z-Image's parts on the tiny pipeline (tests/data/tiny-zimage) against
// diffusers on the same folder (tools/reference/make_tiny_zimage.py), on the
// ref and cpu op tables: the Qwen2 tokenizer's templated ids and the Qwen3
// encoder's hidden_states[-2] rows as ZImagePipeline._encode_prompt gives
// them, and the 16-channel VAE's decode with its shift. Bounds are relative
// to max |reference|; both sides compute in fp32.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/model/qwen3_text.h"
#include "farm/model/vae_decoder.h"
#include "farm/model/zimage_dit.h"
#include "farm/text/qwen_tokenizer.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/tiny-zimage";

class ZImageReference : public ::testing::TestWithParam<std::string> {
 protected:
  kernels::Backend& backend() const {
    return GetParam() == "ref" ? kernels::ref_backend() : kernels::cpu_backend();
  }
};

TEST_P(ZImageReference, PromptEmbeddingsAsZImagePipeline) {
  const SafetensorsFile ref(kDir + "/reference.safetensors");
  const auto info = farm::testing::read_reference_json(kDir + "/reference.json");
  const auto tok = text::QwenTokenizer::from_folder(kDir + "/tokenizer");
  const auto config = model::Qwen3Config::load(kDir + "/text_encoder/config.json");
  // ZImagePipeline reads hidden_states[-2]: every layer but the last, no final norm.
  model::Qwen3TextEncoder te(config, config.layers - 1);
  te.load({WeightStore(kDir + "/text_encoder"), backend()});
  const auto& prompts = info["text"]["prompts"];
  ASSERT_GE(prompts.size(), 5u);
  bool saw_cut = false;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string prompt = prompts[i].get<std::string>();
    const auto ids = tok.encode_prompt(prompt);
    EXPECT_EQ(ids, ref.load_i64(cat("text.ids.", i))) << prompt.substr(0, 60);
    saw_cut |= ids.size() == 512;
    Tensor got = backend().to_host(te.forward(backend(), ids));
    const int64_t L = got.dim(1), D = got.dim(2);
    expect_close(cat(GetParam(), " text.embeds.", i, " (", L, " tokens)"), std::move(got).reshaped({L, D}),
                 ref.load_f32(cat("text.embeds.", i)), 2e-5);
  }
  EXPECT_TRUE(saw_cut) << "one prompt must run past 512 tokens (template cut, as diffusers)";
}

TEST_P(ZImageReference, ShiftedVaeDecodeAsZImagePipeline) {
  const SafetensorsFile ref(kDir + "/reference.safetensors");
  const auto config = model::VaeConfig::load(kDir + "/vae/config.json");
  EXPECT_EQ(config.latent_channels, 16);
  EXPECT_FALSE(config.use_post_quant_conv);
  EXPECT_FLOAT_EQ(config.shift_factor, 0.1159f);
  model::VaeDecoder vae(config);
  vae.load({WeightStore(kDir + "/vae"), backend()});
  const Tensor z = config.decoder_input(nchw_to_nhwc(ref.load_f32("vae.latents")));
  expect_close(cat(GetParam(), " vae.image"), vae.decode(backend(), z), nchw_to_nhwc(ref.load_f32("vae.image")), 2e-5);
}

// The transformer as ZImagePipeline calls it (one item; odd latent sizes whose
// image rows and captions both need padding to 32; t = 0 too).
TEST_P(ZImageReference, TransformerAsDiffusers) {
  const SafetensorsFile ref(kDir + "/reference.safetensors");
  const auto info = farm::testing::read_reference_json(kDir + "/reference.json");
  model::ZImageDit dit(model::ZImageDitConfig::load(kDir + "/transformer/config.json"));
  dit.load({WeightStore(kDir + "/transformer"), backend()});
  const auto& cases = info["dit"]["cases"];
  ASSERT_GE(cases.size(), 3u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tensor latents = nchw_to_nhwc(ref.load_f32(cat("dit.latents.", i)));
    const Tensor caption = ref.load_f32(cat("text.embeds.", cases[i]["caption"].get<int>()));
    const float t = ref.load_f32(cat("dit.t.", i)).data[0];
    expect_close(cat(GetParam(), " dit.out.", i), dit.forward(backend(), latents, caption, t),
                 nchw_to_nhwc(ref.load_f32(cat("dit.out.", i))), 2e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ZImageReference, ::testing::Values("ref", "cpu"));

TEST(Qwen3Encoder, BlockListStopsBeforeTheUnusedLayer) {
  const auto config = model::Qwen3Config::load(kDir + "/text_encoder/config.json");
  model::Qwen3TextEncoder used(config, config.layers - 1), all(config, config.layers);
  ASSERT_EQ(used.blocks().size(), static_cast<size_t>(config.layers));  // embed_tokens + layers 0..L-2
  EXPECT_EQ(used.blocks().front().name, "embed_tokens");
  EXPECT_EQ(used.blocks().back().name, cat("layers.", config.layers - 2));
  EXPECT_EQ(all.blocks().back().name, "norm");
  // Running the list in two ranges is running it whole (a pipeline cut).
  auto& be = kernels::cpu_backend();
  used.load({WeightStore(kDir + "/text_encoder"), be});
  const auto tok = text::QwenTokenizer::from_folder(kDir + "/tokenizer");
  const auto ids = tok.encode_prompt("a photo of a cat");
  model::TextState s{ids, 1, {}, {}};
  used.run(be, s, 0, 2);
  used.run(be, s, 2, used.blocks().size());
  const Tensor whole = used.forward(be, ids);
  ASSERT_EQ(s.h.shape, whole.shape);
  EXPECT_EQ(s.h.data, whole.data);
}

TEST(ZImageDit, BlockListInRangesIsTheWholeForward) {
  const auto config = model::ZImageDitConfig::load(kDir + "/transformer/config.json");
  model::ZImageDit dit(config);
  // embed, 1 noise refiner, 1 context refiner, 2 layers, final layer.
  ASSERT_EQ(dit.blocks().size(), static_cast<size_t>(2 + 2 * config.refiner_layers + config.layers));
  EXPECT_EQ(dit.blocks()[1].name, "noise_refiner.0");
  EXPECT_EQ(dit.blocks()[2].name, "context_refiner.0");
  auto& be = kernels::cpu_backend();
  dit.load({WeightStore(kDir + "/transformer"), be});
  const SafetensorsFile ref(kDir + "/reference.safetensors");
  const Tensor latents = nchw_to_nhwc(ref.load_f32("dit.latents.0"));
  const Tensor caption = ref.load_f32("text.embeds.0");
  model::DitState s;
  s.latents = latents;
  s.caption = Tensor(caption).reshaped({1, caption.dim(0), caption.dim(1)});
  s.t = 0.3f;
  for (size_t b = 0; b < dit.blocks().size(); ++b) dit.run(be, s, b, b + 1);  // one block at a time
  const Tensor whole = dit.forward(be, latents, caption, 0.3f);
  EXPECT_EQ(s.out.data, whole.data);
}

TEST(ZImageDitConfigErrors, NameTheFileAndField) {
  const auto bad = [](const std::string& key, const nlohmann::json& value, const std::string& expect) {
    auto j = farm::testing::read_reference_json(kDir + "/transformer/config.json");
    j[key] = value;
    const std::string path = ::testing::TempDir() + "/zimage_dit_config.json";
    std::ofstream(path) << j.dump();
    try {
      model::ZImageDitConfig::load(path);
      ADD_FAILURE() << key << ": no error";
    } catch (const farm::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path + ": field '" + key + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(expect), std::string::npos) << what;
    }
  };
  bad("axes_dims", nlohmann::json{8, 12, 14}, "expected the head dim 32");
  bad("n_heads", 5, "does not divide");
  bad("all_patch_size", nlohmann::json{4}, "2x2");
  bad("siglip_feat_dim", 64, "Omni");
  bad("qk_norm", false, "not supported");
}

// Every block's parameter count from the config, against diffusers' and
// transformers' own modules on the meta device (tests/data/zimage_params.json,
// make_zimage_config.py), for Z-Image-Turbo's configs and the tiny ones.
TEST(ZImageParamCounts, EveryBlockAsDiffusersCountsIt) {
  const auto want = farm::testing::read_reference_json(std::string(FARM_TEST_DATA) + "/zimage_params.json");
  for (const std::string folder : {"configs/z-image-turbo", "tests/data/tiny-zimage"}) {
    SCOPED_TRACE(folder);
    const std::string dir = std::string(FARM_SOURCE_DIR) + "/" + folder;
    const auto& w = want[folder];
    model::ZImageDit dit(model::ZImageDitConfig::load(dir + "/transformer/config.json"));
    ASSERT_EQ(dit.blocks().size(), w["transformer"].size());
    int64_t total = 0;
    for (size_t i = 0; i < dit.blocks().size(); ++i) {
      EXPECT_EQ(dit.blocks()[i].name, w["transformer"][i][0].get<std::string>());
      EXPECT_EQ(dit.block_params(i), w["transformer"][i][1].get<int64_t>()) << dit.blocks()[i].name;
      total += dit.block_params(i);
    }
    std::printf("[params] %s transformer %.4f B\n", folder.c_str(), static_cast<double>(total) / 1e9);
    const auto tc = model::Qwen3Config::load(dir + "/text_encoder/config.json");
    model::Qwen3TextEncoder te(tc, tc.layers - 1);
    ASSERT_EQ(te.blocks().size(), w["text_encoder"].size());
    for (size_t i = 0; i < te.blocks().size(); ++i) {
      EXPECT_EQ(te.blocks()[i].name, w["text_encoder"][i][0].get<std::string>());
      EXPECT_EQ(te.block_params(i), w["text_encoder"][i][1].get<int64_t>()) << te.blocks()[i].name;
    }
    model::Qwen3TextEncoder all(tc, tc.layers);
    int64_t all_params = 0;
    for (size_t i = 0; i < all.blocks().size(); ++i) all_params += all.block_params(i);
    EXPECT_EQ(all_params, w["text_encoder_total"].get<int64_t>());  // tied embeddings: no lm_head
  }
}

TEST(Qwen3ConfigErrors, NameTheFileAndField) {
  const auto bad = [](const std::string& edit_key, const nlohmann::json& value, const std::string& expect) {
    auto j = farm::testing::read_reference_json(kDir + "/text_encoder/config.json");
    if (value.is_null()) j.erase(edit_key); else j[edit_key] = value;
    const std::string path = ::testing::TempDir() + "/qwen3_config.json";
    std::ofstream(path) << j.dump();
    try {
      model::Qwen3Config::load(path);
      ADD_FAILURE() << edit_key << ": no error";
    } catch (const farm::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("'" + edit_key + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(expect), std::string::npos) << what;
    }
  };
  bad("model_type", "llama", "expected 'qwen3'");
  bad("num_key_value_heads", 4, "does not divide num_attention_heads 6");
  bad("hidden_act", "gelu", "SwiGLU");
  bad("attention_bias", true, "no biases");
  bad("rope_scaling", nlohmann::json{{"rope_type", "yarn"}, {"factor", 4.0}}, "not supported");
  bad("rope_parameters", nlohmann::json{{"rope_type", "llama3"}}, "'llama3' is not supported");
  bad("head_dim", 7, "even");
  bad("num_hidden_layers", nullptr, "");
}

}  // namespace
