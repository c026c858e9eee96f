// The SDXL refiner (tests/data/tiny-sdxl-refiner) against diffusers
// (tools/reference/make_refiner_reference.py): its conditioning from the
// second text encoder alone, its UNet with the 5 aesthetic-score time ids,
// and the base -> refiner "ensemble of experts" on the tiny base for each
// sampler: the latents after every step (the base's, then the refiner's with
// its fresh sampler started mid-schedule) and the image from the refiner's VAE.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/denoise_loop.h"
#include "farm/pipeline/txt2img.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"
#include "tests/support/reference_request.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

const std::string kData = FARM_TEST_DATA;
const std::string kRefiner = kData + "/tiny-sdxl-refiner";

const pipeline::SdModel& base() {
  static const auto m = pipeline::SdModel::load(kData + "/tiny-sdxl", kernels::cpu_backend());
  return m;
}
const pipeline::SdModel& refiner() {
  static const auto m = pipeline::SdModel::load(kRefiner, kernels::cpu_backend());
  return m;
}
const SafetensorsFile& ref() {
  static const SafetensorsFile f(kRefiner + "/reference.safetensors");
  return f;
}
const nlohmann::json& info() {
  static const auto j = farm::testing::read_reference_json(kRefiner + "/reference.json");
  return j;
}

TEST(RefinerReference, OpensAsARefiner) {
  const auto& r = refiner();
  EXPECT_TRUE(r.refiner);
  EXPECT_TRUE(r.sdxl());
  EXPECT_EQ(r.text_encoder, nullptr);
  EXPECT_EQ(r.tokenizer, nullptr);
  EXPECT_EQ(r.unet->config().time_ids, 5);
  EXPECT_FALSE(r.force_zeros_for_empty_prompt);
}

TEST(RefinerReference, PromptEmbedsFromTheSecondEncoderAlone) {
  std::vector<std::string> prompts;
  for (const auto& s : info().at("text").at("prompts")) prompts.push_back(s.get<std::string>());
  const auto& r = refiner();
  const auto ids = ref().load_i64("text2.ids");
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(r.tokenizer_2->encode(prompts[i]), std::vector<int64_t>(ids.begin() + i * 77, ids.begin() + (i + 1) * 77));
  const auto c = pipeline::encode_conditioning(r, prompts, 1, {});
  expect_close("refiner text.prompt_embeds", r.backend->to_host(c.context), ref().load_f32("text.prompt_embeds"), 5e-6);
  expect_close("refiner text.pooled", r.backend->to_host(c.pooled), ref().load_f32("text.pooled"), 5e-6);
}

TEST(RefinerReference, UNetWithAestheticScoreTimeIds) {
  const auto& r = refiner();
  const auto run = [&](const Tensor& ids) {
    return r.unet->forward(*r.backend, nchw_to_nhwc(ref().load_f32("unet.sample")), ref().load_f32("unet.timestep"),
                           ref().load_f32("unet.encoder_hidden_states"), ref().load_f32("unet.text_embeds"), ids);
  };
  const Tensor out = run(ref().load_f32("unet.time_ids"));
  expect_close("refiner unet.out", nhwc_to_nchw(out), ref().load_f32("unet.out"), 1e-5);
  Tensor ids = ref().load_f32("unet.time_ids");
  ids.data[4] = 1.0f;  // another aesthetic score, another output
  EXPECT_NE(run(ids).data, out.data);
}

pipeline::Txt2ImgRequest request_of(const nlohmann::json& c) {
  return farm::testing::reference_request(c, "tiny-sdxl-refiner");
}

class Ensemble : public ::testing::TestWithParam<nlohmann::json> {};

TEST_P(Ensemble, LatentsEveryStepAndImageMatchDiffusers) {
  const auto& c = GetParam();
  const std::string name = c.at("name").get<std::string>();
  const auto req = request_of(c);
  const pipeline::DenoiseLoop loop(base(), {req}, &refiner());
  EXPECT_EQ(loop.base_steps(), c.at("base_steps").get<int>()) << name;
  EXPECT_EQ(loop.steps() - loop.base_steps(), c.at("refiner_steps").get<int>()) << name;

  const Tensor steps = ref().load_f32("pipe." + name + ".latents_steps");  // [S,1,C,h,w]
  ASSERT_EQ(steps.dim(0), loop.steps());
  const Shape one = {1, steps.dim(2), steps.dim(3), steps.dim(4)};
  const int64_t n = numel(one);
  int seen = 0;
  const Tensor latents = pipeline::denoise(base(), {req}, [&](int s, int, const Tensor& x) {
    Tensor want(one, std::vector<float>(steps.data.begin() + (s - 1) * n, steps.data.begin() + s * n));
    expect_close(cat(name, " latents after pass ", s), nhwc_to_nchw(x), want, 2e-5);
    ++seen;
  }, nullptr, &refiner());
  EXPECT_EQ(seen, loop.steps());

  // The image through the refiner's VAE (not the base's: their weights differ here).
  const auto rgb = pipeline::txt2img(base(), {req}, {}, nullptr, &refiner());
  const Tensor want = ref().load_f32("pipe." + name + ".image");  // [1,H,W,3] in [0,1]
  ASSERT_EQ(rgb[0].rgb.size(), want.data.size());
  int off = 0;
  for (size_t i = 0; i < want.data.size(); ++i)
    off = std::max(off, std::abs(int(rgb[0].rgb[i]) - int(std::nearbyint(want.data[i] * 255.0f))));
  EXPECT_LE(off, 1) << name << ": image levels off by up to " << off;
  const Tensor via_base_vae = pipeline::decode_latents(base(), latents);
  EXPECT_GT(farm::testing::compare(via_base_vae.data, want.data).max_abs, 0.01) << name << ": the base's VAE gives this image too";
}

std::vector<nlohmann::json> cases() {
  std::vector<nlohmann::json> r;
  for (const auto& c : info().at("ensemble").at("cases")) r.push_back(c);
  return r;
}

INSTANTIATE_TEST_SUITE_P(Tiny, Ensemble, ::testing::ValuesIn(cases()), [](const auto& i) {
  return i.param.at("name").template get<std::string>();
});

TEST(RefinerRequests, BadValuesAreClearErrors) {
  auto req = request_of(cases()[0]);
  const auto error_of = [&](const pipeline::Txt2ImgRequest& r, const pipeline::SdModel* refiner) -> std::string {
    try {
      pipeline::check_request(base(), r, refiner);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(req, &refiner()), "");
  for (double s : {0.0, 1.0, -0.5, 1.5, std::nan("")}) {
    auto r = req;
    r.refiner_switch = s;
    EXPECT_NE(error_of(r, &refiner()).find("refiner_switch"), std::string::npos) << s;
  }
  auto r = req;
  r.aesthetic_score = std::numeric_limits<float>::infinity();
  EXPECT_NE(error_of(r, &refiner()).find("aesthetic_score"), std::string::npos);
  EXPECT_NE(error_of(req, nullptr).find("not loaded"), std::string::npos);
  EXPECT_NE(error_of(req, &base()).find("not an SDXL refiner"), std::string::npos);
  auto plain = req;
  plain.refiner.clear();
  try {
    pipeline::check_request(refiner(), plain);
    ADD_FAILURE() << "a refiner rendered as the model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--refiner"), std::string::npos) << e.what();
  }
}

}  // namespace
