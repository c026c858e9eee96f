// The CLIP text encoder, UNet and VAE decoder, loaded from the tiny SD-1.x-like
// and SD-2.x-like diffusers folders, against the tensors diffusers and
// transformers computed from the same stored weights
// (tools/reference/make_model_reference.py). Run on both the ref and cpu op
// tables. Bounds are relative to max |reference|; both sides compute in fp32,
// so the errors are fp32 reordering noise through a few dozen layers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "farm/io/safetensors.h"
#include "farm/model/clip_text.h"
#include "farm/model/unet.h"
#include "farm/model/vae_decoder.h"
#include "farm/text/clip_tokenizer.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

struct Case {
  std::string model;    // folder under tests/data
  std::string backend;  // ref | cpu
};

kernels::Backend& ops_of(const std::string& b) { return b == "ref" ? kernels::ref_backend() : kernels::cpu_backend(); }

std::string dir_of(const std::string& model) { return std::string(FARM_TEST_DATA) + "/" + model; }

class ModelReference : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir_ = dir_of(GetParam().model);
    ref_ = std::make_unique<SafetensorsFile>(dir_ + "/reference.safetensors");
    info_ = farm::testing::read_reference_json(dir_ + "/reference.json");
  }
  std::string label(const std::string& what) const { return GetParam().model + "/" + GetParam().backend + " " + what; }

  std::string dir_;
  std::unique_ptr<SafetensorsFile> ref_;
  nlohmann::json info_;
};

TEST_P(ModelReference, TextEncoder) {
  auto& ops = ops_of(GetParam().backend);
  model::ClipTextEncoder te(model::ClipTextConfig::load(dir_ + "/text_encoder/config.json"));
  te.load({WeightStore(dir_ + "/text_encoder"), ops});
  const auto ids = ref_->load_i64("text.ids");
  const Tensor want = ref_->load_f32("text.last_hidden");
  const int64_t B = want.dim(0);
  expect_close(label("text.last_hidden"), te.forward(ops, ids, B), want, 5e-6);
  // clip skip 2 (A1111) = diffusers clip_skip=1: penultimate layer + final layer norm.
  expect_close(label("text.clip_skip1"), te.forward(ops, ids, B, 2), ref_->load_f32("text.clip_skip1"), 5e-6);
}

TEST_P(ModelReference, TokenizerIdsOfThePrompts) {
  const auto tok = text::ClipTokenizer::from_folder(dir_ + "/tokenizer");
  const auto ids = ref_->load_i64("text.ids");
  const auto prompts = info_.at("text").at("prompts");
  ASSERT_EQ(ids.size(), prompts.size() * 77);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto got = tok.encode(prompts[i].get<std::string>());
    EXPECT_EQ(got, std::vector<int64_t>(ids.begin() + i * 77, ids.begin() + (i + 1) * 77)) << prompts[i];
  }
}

TEST_P(ModelReference, UNet) {
  auto& ops = ops_of(GetParam().backend);
  model::UNet unet(model::UNetConfig::load(dir_ + "/unet/config.json"));
  unet.load({WeightStore(dir_ + "/unet"), ops});
  const Tensor out = unet.forward(ops, nchw_to_nhwc(ref_->load_f32("unet.sample")), ref_->load_f32("unet.timestep"),
                                  ref_->load_f32("unet.encoder_hidden_states"));
  expect_close(label("unet.out"), nhwc_to_nchw(out), ref_->load_f32("unet.out"), 1e-5);
}

TEST_P(ModelReference, VaeDecode) {
  auto& ops = ops_of(GetParam().backend);
  model::VaeDecoder vae(model::VaeConfig::load(dir_ + "/vae/config.json"));
  vae.load({WeightStore(dir_ + "/vae"), ops});
  Tensor z = nchw_to_nhwc(ref_->load_f32("vae.latent"));
  for (float& v : z.data) v = v / vae.config().scaling_factor;
  expect_close(label("vae.image"), nhwc_to_nchw(vae.decode(ops, z)), ref_->load_f32("vae.image"), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Tiny, ModelReference,
                         ::testing::Values(Case{"tiny-sd1", "ref"}, Case{"tiny-sd1", "cpu"}, Case{"tiny-sd2", "ref"},
                                           Case{"tiny-sd2", "cpu"}),
                         [](const auto& info) {
                           std::string n = info.param.model + "_" + info.param.backend;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
