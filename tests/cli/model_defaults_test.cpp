// A model folder's farm.toml: built-in < model < --config < flags < prompt line.
#include "farm/coord/model_defaults.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

using farm::testing::fresh_dir;
using farm::testing::write_text;

// A model folder as far as model_job_defaults looks: model_index.json and,
// when given, farm.toml.
std::string model_folder(const std::string& farm_toml = "") {
  const auto dir = fresh_dir() / "model";
  std::filesystem::create_directories(dir);
  write_text(dir / "model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\"}\n");
  if (!farm_toml.empty()) write_text(dir / "farm.toml", farm_toml);
  return dir.string();
}

JobDefaults native_64() {
  JobDefaults base;
  base.width = base.height = 64;  // the caller's native size
  base.seed = 5;
  return base;
}

std::string defaults_error(const std::string& model_dir) {
  try {
    model_job_defaults(model_dir, JobDefaults{});
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << model_dir;
  return "";
}

TEST(ModelJobDefaults, NoFarmTomlKeepsTheBase) {
  const JobDefaults d = model_job_defaults(model_folder(), native_64());
  const JobDefaults want = native_64();
  EXPECT_EQ(d.negative_prompt, want.negative_prompt);
  EXPECT_EQ(d.seed, want.seed);
  EXPECT_EQ(d.steps, want.steps);
  EXPECT_EQ(d.guidance, want.guidance);
  EXPECT_EQ(d.width, want.width);
  EXPECT_EQ(d.height, want.height);
  EXPECT_EQ(d.sampler, want.sampler);
  EXPECT_EQ(d.clip_skip, want.clip_skip);
}

TEST(ModelJobDefaults, LayeredOverTheBaseAndUnderTheJobConfig) {
  const std::string model = model_folder("# recommended\nsteps = 25\nguidance = 1.5\nsampler = \"ddim\"\n");
  const JobDefaults d = model_job_defaults(model, native_64());
  EXPECT_EQ(d.steps, 25);
  EXPECT_EQ(d.guidance, 1.5f);
  EXPECT_EQ(d.sampler, "ddim");
  EXPECT_EQ(d.width, 64);  // the base survives where the model says nothing
  EXPECT_EQ(d.seed, 5);
  EXPECT_EQ(d.clip_skip, 1);

  // --config goes over the model's keys and keeps the rest.
  const std::string config = write_text(fresh_dir() / "job.toml", "steps = 40\n");
  const JobDefaults job = load_job_config(config, d);
  EXPECT_EQ(job.steps, 40);
  EXPECT_EQ(job.guidance, 1.5f);
  EXPECT_EQ(job.sampler, "ddim");
}

TEST(ModelJobDefaults, BadKeyNamesTheFileLineAndKey) {
  const std::string model = model_folder("steps = 25\nguidence = 1.5\n");
  EXPECT_NE(defaults_error(model).find(model + "/farm.toml:2: key 'guidence': unknown key"), std::string::npos)
      << defaults_error(model);
  const std::string typed = model_folder("steps = \"25\"\n");
  EXPECT_NE(defaults_error(typed).find("farm.toml:1: key 'steps': expected an integer, got string"),
            std::string::npos);
  const std::string range = model_folder("guidance = -1\n");
  EXPECT_NE(defaults_error(range).find("farm.toml:1: key 'guidance': expected a finite number >= 0"),
            std::string::npos);
  const std::string broken = model_folder("steps = \n");
  EXPECT_NE(defaults_error(broken).find("farm.toml:1: invalid TOML"), std::string::npos) << defaults_error(broken);
}

TEST(ModelJobDefaults, FarmTomlThatIsNotAFileIsAnError) {
  const std::string model = model_folder();
  std::filesystem::create_directory(std::filesystem::path(model) / "farm.toml");
  EXPECT_NE(defaults_error(model).find(model + "/farm.toml: expected a TOML file of job defaults"),
            std::string::npos)
      << defaults_error(model);
}

// The shipped demo model asks for what it was scored best at
// (tools/train/README.md: DDIM 25 steps, CFG 1.5) and leaves the rest alone.
TEST(ModelJobDefaults, ShippedTinyShapes) {
  const JobDefaults d = model_job_defaults(std::string(FARM_MODELS_DIR) + "/tiny-shapes", native_64());
  EXPECT_EQ(d.sampler, "ddim");
  EXPECT_EQ(d.steps, 25);
  EXPECT_EQ(d.guidance, 1.5f);
  EXPECT_EQ(d.width, 64);
  EXPECT_EQ(d.height, 64);
  EXPECT_EQ(d.seed, 5);
  EXPECT_EQ(d.negative_prompt, "");
  EXPECT_EQ(d.clip_skip, 1);
}

}  // namespace
}  // namespace farm
