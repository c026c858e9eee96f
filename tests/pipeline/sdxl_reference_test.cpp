// SDXL base's parts, loaded from the tiny SDXL diffusers folder, against the
// tensors diffusers computed from the same stored weights
// (tools/reference/make_sdxl_reference.py): both tokenizers' ids, the two text
// encoders' concatenated penultimate states and the pooled projection (as
// StableDiffusionXLPipeline.encode_prompt returns them, also with clip skip),
// the UNet with its "text_time" added conditioning, and the VAE decode. On the
// ref and cpu op tables; bounds relative to max |reference|, as for SD 1/2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "farm/io/safetensors.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/sd_model.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/tiny-sdxl";

kernels::Backend& ops_of(const std::string& b) { return b == "ref" ? kernels::ref_backend() : kernels::cpu_backend(); }

class SdxlReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ref_ = std::make_unique<SafetensorsFile>(kDir + "/reference.safetensors");
    info_ = farm::testing::read_reference_json(kDir + "/reference.json");
    model_ = std::make_unique<pipeline::SdModel>(pipeline::SdModel::load(kDir, ops_of(GetParam())));
  }
  std::string label(const std::string& what) const { return "tiny-sdxl/" + GetParam() + " " + what; }
  std::vector<std::string> prompts() const {
    std::vector<std::string> p;
    for (const auto& s : info_.at("text").at("prompts")) p.push_back(s.get<std::string>());
    return p;
  }

  std::unique_ptr<SafetensorsFile> ref_;
  nlohmann::json info_;
  std::unique_ptr<pipeline::SdModel> model_;
};

TEST_P(SdxlReference, BothTokenizersIds) {
  const auto p = prompts();
  for (const auto& [tok, key] : {std::pair{model_->tokenizer.get(), "text.ids"}, {model_->tokenizer_2.get(), "text2.ids"}}) {
    const auto ids = ref_->load_i64(key);
    ASSERT_EQ(ids.size(), p.size() * 77);
    for (size_t i = 0; i < p.size(); ++i)
      EXPECT_EQ(tok->encode(p[i]), std::vector<int64_t>(ids.begin() + i * 77, ids.begin() + (i + 1) * 77))
          << key << ": " << p[i];
  }
}

TEST_P(SdxlReference, PromptEmbedsAndPooled) {
  const auto& m = *model_;
  const auto c = pipeline::encode_conditioning(m, prompts(), 1, {});
  expect_close(label("text.prompt_embeds"), m.backend->to_host(c.context), ref_->load_f32("text.prompt_embeds"), 5e-6);
  expect_close(label("text.pooled"), m.backend->to_host(c.pooled), ref_->load_f32("text.pooled"), 5e-6);
  // clip skip 2 (A1111) = diffusers clip_skip=1: one layer earlier in both; the pooled output stays.
  const auto c2 = pipeline::encode_conditioning(m, prompts(), 2, {});
  expect_close(label("text.prompt_embeds_skip2"), m.backend->to_host(c2.context),
               ref_->load_f32("text.prompt_embeds_skip2"), 5e-6);
  expect_close(label("text.pooled (clip skip 2)"), m.backend->to_host(c2.pooled), ref_->load_f32("text.pooled"), 5e-6);
}

TEST_P(SdxlReference, ZeroedRowsAreZerosPooledIncluded) {
  const auto& m = *model_;
  const auto c = pipeline::encode_conditioning(m, {"a photo of a cat", ""}, 1, {}, {false, true});
  const Tensor ctx = m.backend->to_host(c.context), pooled = m.backend->to_host(c.pooled);
  const Tensor want = ref_->load_f32("text.prompt_embeds"), want_pooled = ref_->load_f32("text.pooled");
  const int64_t row = ctx.size() / 2, prow = pooled.size() / 2;
  // Row 0 is the prompt's own encoding; row 1 all zeros (not the encoding of "").
  const Shape one = {1, ctx.dim(1), ctx.dim(2)};
  expect_close(label("row 0"), Tensor(one, std::vector<float>(ctx.data.begin(), ctx.data.begin() + row)),
               Tensor(one, std::vector<float>(want.data.begin(), want.data.begin() + row)), 5e-6);
  for (int64_t i = row; i < 2 * row; ++i) ASSERT_EQ(ctx.data[i], 0.0f) << i;
  for (int64_t i = prow; i < 2 * prow; ++i) ASSERT_EQ(pooled.data[i], 0.0f) << i;
  EXPECT_NE(pooled.data[0], 0.0f);
}

TEST_P(SdxlReference, UNetWithAddedConditioning) {
  auto& ops = ops_of(GetParam());
  const Tensor out = model_->unet->forward(ops, nchw_to_nhwc(ref_->load_f32("unet.sample")),
                                           ref_->load_f32("unet.timestep"), ref_->load_f32("unet.encoder_hidden_states"),
                                           ref_->load_f32("unet.text_embeds"), ref_->load_f32("unet.time_ids"));
  expect_close(label("unet.out"), nhwc_to_nchw(out), ref_->load_f32("unet.out"), 1e-5);
  // The added conditioning is read: other time ids give another output.
  Tensor ids = ref_->load_f32("unet.time_ids");
  ids.data[0] += 64.0f;
  const Tensor moved = model_->unet->forward(ops, nchw_to_nhwc(ref_->load_f32("unet.sample")),
                                             ref_->load_f32("unet.timestep"),
                                             ref_->load_f32("unet.encoder_hidden_states"),
                                             ref_->load_f32("unet.text_embeds"), ids);
  EXPECT_NE(moved.data, out.data);
}

TEST_P(SdxlReference, VaeDecode) {
  auto& ops = ops_of(GetParam());
  Tensor z = nchw_to_nhwc(ref_->load_f32("vae.latent"));
  EXPECT_FLOAT_EQ(model_->vae->config().scaling_factor, 0.13025f);
  for (float& v : z.data) v = v / model_->vae->config().scaling_factor;
  expect_close(label("vae.image"), nhwc_to_nchw(model_->vae->decode(ops, z)), ref_->load_f32("vae.image"), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Tiny, SdxlReference, ::testing::Values("ref", "cpu"));

}  // namespace
