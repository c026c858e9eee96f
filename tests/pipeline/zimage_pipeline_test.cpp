// Z-Image text-to-image on the tiny pipeline (tests/data/tiny-zimage) against
// diffusers' ZImagePipeline on the same folder (make_tiny_zimage.py): the
// latents after every step and the image, for Turbo's guidance 0, CFG with a
// negative prompt, and CFG with the default "" negative and a dynamically
// shifted schedule. Bounds relative to max |reference|; fp32 on both sides.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/zimage_pipeline.h"
#include "tests/support/compare.h"
#include "tests/support/reference_json.h"

using namespace farm;
using farm::testing::expect_close;

namespace {

const std::string kDir = std::string(FARM_TEST_DATA) + "/tiny-zimage";

const pipeline::ZImageModel& tiny() {
  static const pipeline::ZImageModel m = pipeline::ZImageModel::load(kDir, kernels::cpu_backend());
  return m;
}

TEST(ZImagePipeline, SameLatentsAndImageAsDiffusers) {
  const SafetensorsFile ref(kDir + "/reference.safetensors");
  const auto info = farm::testing::read_reference_json(kDir + "/reference.json");
  const auto& cases = info["pipeline"]["cases"];
  ASSERT_GE(cases.size(), 3u);
  for (const auto& c : cases) {
    const std::string name = c["name"].get<std::string>();
    pipeline::ZImageRequest r;
    r.prompt = c["prompt"].get<std::string>();
    if (!c["negative_prompt"].is_null()) r.negative_prompt = c["negative_prompt"].get<std::string>();
    r.seed = c["seed"].get<uint64_t>();
    r.steps = c["steps"].get<int>();
    r.guidance = c["guidance"].get<double>();
    r.width = c["width"].get<int64_t>();
    r.height = c["height"].get<int64_t>();
    const auto scheduler = sched::FlowMatchConfig::from_json_text(c["scheduler_config"].dump(), name + " scheduler");
    const auto run = pipeline::zimage_txt2img(tiny(), kernels::cpu_backend(), r, &scheduler, true);

    const Tensor steps = ref.load_f32("pipe." + name + ".latents");  // [steps, 1, 16, h, w]
    ASSERT_EQ(static_cast<int64_t>(run.step_latents.size()), steps.dim(0)) << name;
    const int64_t per = steps.size() / steps.dim(0);
    for (int64_t i = 0; i < steps.dim(0); ++i) {
      Tensor want({1, steps.dim(2), steps.dim(3), steps.dim(4)});
      std::copy(steps.ptr() + i * per, steps.ptr() + (i + 1) * per, want.ptr());
      expect_close(cat(name, " latents after step ", i), run.step_latents[static_cast<size_t>(i)], nchw_to_nhwc(want),
                   2e-5);
    }
    const Tensor image = ref.load_f32("pipe." + name + ".image");
    expect_close(name + " image", run.image, image, 2e-5);
    // As PIL bytes: round(x · 255) within one level.
    double worst = 0;
    for (int64_t k = 0; k < image.size(); ++k)
      worst = std::max(worst, std::fabs(std::round(run.image.data[k] * 255.0) - std::round(image.data[k] * 255.0)));
    EXPECT_LE(worst, 1.0) << name;
  }
}

TEST(ZImagePipeline, BadRequestsAreClearErrors) {
  pipeline::ZImageRequest r;
  r.prompt = "a cat";
  r.width = 30, r.height = 24;  // the tiny VAE halves: sides must be multiples of 4
  try {
    pipeline::check_request(tiny(), r);
    ADD_FAILURE() << "no error";
  } catch (const farm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 4"), std::string::npos) << e.what();
  }
  r.width = 32, r.steps = 0;
  EXPECT_THROW(pipeline::check_request(tiny(), r), farm::Error);
}

TEST(ZImagePipeline, NotAZImageFolder) {
  try {
    pipeline::ZImageModel::load(std::string(FARM_TEST_DATA) + "/tiny-sd1", kernels::cpu_backend());
    ADD_FAILURE() << "no error";
  } catch (const farm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_index.json: field '_class_name'"), std::string::npos) << e.what();
  }
}

}  // namespace
