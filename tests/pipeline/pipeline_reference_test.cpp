// Whole renders against diffusers' StableDiffusionPipeline on the same stored
// weights (tools/reference/make_model_reference.py): the seeded initial noise
// bit for bit, the latents after every sampler step, and the final image, for
// each sampler, with and without guidance and a negative prompt. Then the
// batch invariant: an image does not depend on its micro-batch mates.
#include <gtest/gtest.h>
#include <omp.h>

#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/txt2img.h"
#include "farm/rng/torch_generator.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"
#include "tests/support/reference_request.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

struct ModelCache {
  std::map<std::string, std::unique_ptr<pipeline::SdModel>> models;
  const pipeline::SdModel& get(const std::string& name) {
    auto& m = models[name];
    if (!m)
      m = std::make_unique<pipeline::SdModel>(
          pipeline::SdModel::load(std::string(FARM_TEST_DATA) + "/" + name, kernels::cpu_backend()));
    return *m;
  }
};
ModelCache& cache() {
  static ModelCache c;
  return c;
}

pipeline::Txt2ImgRequest request_of(const nlohmann::json& c) { return farm::testing::reference_request(c); }

struct PipeCase {
  std::string model;
  nlohmann::json c;
};

std::vector<PipeCase> all_cases() {
  std::vector<PipeCase> r;
  for (const char* m : {"tiny-sd1", "tiny-sd2", "tiny-sdxl"}) {
    const auto info = farm::testing::read_reference_json(std::string(FARM_TEST_DATA) + "/" + m + "/reference.json");
    for (const auto& c : info.at("pipeline").at("cases")) r.push_back({m, c});
  }
  return r;
}

class PipelineReference : public ::testing::TestWithParam<PipeCase> {};

TEST_P(PipelineReference, NoiseLatentsAndImageMatchDiffusers) {
  const auto& [model_name, c] = GetParam();
  const auto& m = cache().get(model_name);
  const SafetensorsFile ref(std::string(FARM_TEST_DATA) + "/" + model_name + "/reference.safetensors");
  const std::string name = c.at("name").get<std::string>();
  const std::string label = model_name + " " + name;
  const auto req = request_of(c);

  // Initial noise: bit-identical to torch.randn with the seeded CPU generator.
  const Tensor noise0 = ref.load_f32("pipe." + name + ".latents0");
  std::vector<float> mine(noise0.data.size());
  rng::TorchGenerator g(req.seed);
  g.randn(mine.data(), static_cast<int64_t>(mine.size()));
  EXPECT_EQ(mine, noise0.data) << label << ": initial noise differs from torch.randn";

  // Latents after every sampler step, as diffusers' callback_on_step_end saw them.
  const Tensor steps = ref.load_f32("pipe." + name + ".latents_steps");  // [S,1,C,h,w]
  const Shape one = {1, steps.dim(2), steps.dim(3), steps.dim(4)};
  const int64_t n = numel(one);
  const Tensor latents = pipeline::denoise(m, {req}, [&](int s, int, const Tensor& x) {
    Tensor want(one, std::vector<float>(steps.data.begin() + (s - 1) * n, steps.data.begin() + s * n));
    expect_close(cat(label, " latents after step ", s), nhwc_to_nchw(x), want, 2e-5);
  });

  const Tensor image = pipeline::decode_latents(m, latents);  // [1,H,W,3]
  expect_close(label + " image", image, ref.load_f32("pipe." + name + ".image"), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Tiny, PipelineReference, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  std::string n = info.param.model + "_" + info.param.c.at("name").template get<std::string>();
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// Three items of other prompts, seeds and guidance (one without).
std::vector<pipeline::Txt2ImgRequest> mixed_requests() {
  std::vector<pipeline::Txt2ImgRequest> reqs(3);
  const char* prompts[3] = {"a red circle", "a blue square on the left", "a photo of a cat"};
  for (int i = 0; i < 3; ++i) {
    reqs[i].prompt = prompts[i];
    reqs[i].seed = 100 + i;
    reqs[i].steps = 3;
    reqs[i].guidance = i == 1 ? 1.0f : 4.0f + i;
    reqs[i].width = reqs[i].height = 32;
    reqs[i].sampler = "euler_a";
  }
  return reqs;
}

// An item's image is the same bytes alone or in a micro-batch with others of
// other prompts, seeds and guidance (invariant 1).
TEST(BatchInvariance, SameBitsAloneAndInABatch) {
  const auto& m = cache().get("tiny-sd1");
  const auto reqs = mixed_requests();
  const auto batch = pipeline::txt2img(m, reqs);
  for (int i = 0; i < 3; ++i) {
    const auto alone = pipeline::txt2img(m, {reqs[i]});
    EXPECT_EQ(alone[0].rgb, batch[i].rgb) << "item " << i;
  }
}

// SDXL too, with per-item size conditioning and an empty negative prompt
// (zeros) beside a given one in the same micro-batch.
TEST(BatchInvariance, SdxlSameBitsAloneAndInABatch) {
  const auto& m = cache().get("tiny-sdxl");
  auto reqs = mixed_requests();
  reqs[0].negative_prompt = "blurry";
  reqs[2].original_size = {64, 48};
  reqs[2].crops_coords_top_left = {4, 0};
  const auto batch = pipeline::txt2img(m, reqs);
  for (int i = 0; i < 3; ++i) {
    const auto alone = pipeline::txt2img(m, {reqs[i]});
    EXPECT_EQ(alone[0].rgb, batch[i].rgb) << "item " << i;
  }
  // The size conditioning reaches the image.
  auto moved = reqs[2];
  moved.original_size = {32, 32};
  EXPECT_NE(pipeline::txt2img(m, {moved})[0].rgb, batch[2].rgb);
}

// The same on the bf16 cpu backend, and with one OpenMP thread as with all.
TEST(BatchInvariance, SameBitsAloneInABatchAndOnOneThreadInBf16) {
  const auto be = kernels::make_cpu_bf16_backend();
  const auto m = pipeline::SdModel::load(std::string(FARM_TEST_DATA) + "/tiny-sd1", *be);
  const auto reqs = mixed_requests();
  const auto batch = pipeline::txt2img(m, reqs);
  const auto fp32 = pipeline::txt2img(cache().get("tiny-sd1"), {reqs[0]});
  EXPECT_NE(fp32[0].rgb, batch[0].rgb) << "the bf16 backend rendered fp32 bits";
  const int threads = omp_get_max_threads();
  for (int i = 0; i < 3; ++i) {
    omp_set_num_threads(i == 2 ? 1 : threads);
    const auto alone = pipeline::txt2img(m, {reqs[i]});
    EXPECT_EQ(alone[0].rgb, batch[i].rgb) << "item " << i << (i == 2 ? " on one thread" : "");
  }
  omp_set_num_threads(threads);
}

// diffusers' SD pipelines never read a VAE's shift_factor: a shifted VAE
// (FLUX-style, Z-Image's) in an SD folder is refused before weights are read.
TEST(SdModelErrors, ShiftedVaeIsAnotherFamilys) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "sd1_shifted_vae";
  fs::remove_all(dir);
  fs::copy(std::string(FARM_TEST_DATA) + "/tiny-sd1", dir, fs::copy_options::recursive);
  auto j = farm::testing::read_reference_json((dir / "vae" / "config.json").string());
  j["shift_factor"] = 0.1159;
  std::ofstream((dir / "vae" / "config.json").string()) << j.dump();
  try {
    pipeline::SdModel::load(dir.string(), kernels::cpu_backend());
    ADD_FAILURE() << "no error";
  } catch (const farm::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("vae/config.json: field 'shift_factor'"), std::string::npos) << what;
    EXPECT_NE(what.find("FLUX-style"), std::string::npos) << what;
  }
  fs::remove_all(dir);
}

}  // namespace
