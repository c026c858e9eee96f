// `farm render` on bad input: each case must exit non-zero with a message
// naming the file and the field or line, and leave no image behind.
// Runs the real binary on copies of the tiny model with one thing broken.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "farm/coord/png.h"
#include "tests/support/run_command.h"

namespace fs = std::filesystem;

namespace {

const std::string kModel = std::string(FARM_TEST_DATA) + "/tiny-sd1";

using Result = farm::test::CommandResult;
Result run(const std::string& args) { return farm::test::run_farm(args); }

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("farm_bad_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    out_ = (root_ / "out").string();
    prompts_ = (root_ / "prompts.txt").string();
    std::ofstream(prompts_) << "a red circle\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string copy_model() {
    const fs::path dst = root_ / "model";
    fs::copy(kModel, dst, fs::copy_options::recursive);
    return dst.string();
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (root_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  // The command fails, the message holds every needle, no PNG was written.
  void expect_failure(const std::string& args, std::initializer_list<std::string> needles) {
    const Result r = run(args + " --out " + out_ + " --steps 1 --width 32 --height 32");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("farm: error:"), std::string::npos) << r.output;
    for (const auto& n : needles) EXPECT_NE(r.output.find(n), std::string::npos) << "missing '" << n << "' in: " << r.output;
    size_t pngs = 0;
    if (fs::exists(out_))
      for (const auto& e : fs::recursive_directory_iterator(out_)) pngs += e.path().extension() == ".png";
    EXPECT_EQ(pngs, 0u) << "an image was written despite the error";
  }
  void edit_json(const std::string& path, const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j;
    {
      std::ifstream in(path);
      j = nlohmann::json::parse(in);
    }
    f(j);
    std::ofstream(path) << j.dump(2);
  }

  fs::path root_;
  std::string out_, prompts_;
};

TEST_F(BadInput, MissingModelFolder) {
  expect_failure("render --model " + (root_ / "nope").string() + " --prompts " + prompts_, {"nope", "missing"});
}

TEST_F(BadInput, MissingModelIndex) {
  const auto m = copy_model();
  fs::remove(m + "/model_index.json");
  expect_failure("render --model " + m + " --prompts " + prompts_, {"model_index.json", "missing"});
}

TEST_F(BadInput, MissingComponentFile) {
  const auto m = copy_model();
  fs::remove(m + "/vae/config.json");
  expect_failure("render --model " + m + " --prompts " + prompts_, {"vae/config.json", "missing"});
}

TEST_F(BadInput, TruncatedSafetensors) {
  const auto m = copy_model();
  const std::string w = m + "/unet/diffusion_pytorch_model.safetensors";
  fs::resize_file(w, fs::file_size(w) / 2);
  expect_failure("render --model " + m + " --prompts " + prompts_, {w, "run past the end"});
}

TEST_F(BadInput, HeaderLengthBeyondFile) {
  const auto m = copy_model();
  const std::string w = m + "/vae/diffusion_pytorch_model.safetensors";
  {
    std::fstream f(w, std::ios::in | std::ios::out | std::ios::binary);
    const char huge[8] = {0, 0, 0, 0, 0, 0, 0, 0x10};
    f.write(huge, 8);
  }
  expect_failure("render --model " + m + " --prompts " + prompts_, {w, "header length"});
}

TEST_F(BadInput, WeightWithWrongShape) {
  // The config promises wider blocks than the stored weights have.
  const auto m = copy_model();
  edit_json(m + "/unet/config.json", [](auto& j) { j["block_out_channels"] = {64, 64}; });
  edit_json(m + "/unet/config.json", [](auto& j) { j["norm_num_groups"] = 32; });
  expect_failure("render --model " + m + " --prompts " + prompts_, {"diffusion_pytorch_model.safetensors", "time_embedding.linear_1.weight", "has shape"});
}

TEST_F(BadInput, MissingWeight) {
  // A text encoder with more layers in its config than in its weights.
  const auto m = copy_model();
  edit_json(m + "/text_encoder/config.json", [](auto& j) { j["num_hidden_layers"] = j["num_hidden_layers"].template get<int>() + 1; });
  expect_failure("render --model " + m + " --prompts " + prompts_, {"model.safetensors", "missing weight", "encoder.layers."});
}

TEST_F(BadInput, WeightWithWrongDtype) {
  // Replace the VAE weights by a file whose conv_in weight is I64.
  const auto m = copy_model();
  const std::string w = m + "/vae/diffusion_pytorch_model.safetensors";
  fs::remove(w);
  const std::string header = R"({"post_quant_conv.weight":{"dtype":"I64","shape":[4,4,1,1],"data_offsets":[0,128]}})";
  std::ofstream o(w, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) o.put(static_cast<char>((n >> (8 * i)) & 0xff));
  o << header << std::string(128, '\0');
  o.close();
  expect_failure("render --model " + m + " --prompts " + prompts_, {w, "post_quant_conv.weight", "dtype I64"});
}

TEST_F(BadInput, UnsupportedConfigValue) {
  const auto m = copy_model();
  edit_json(m + "/unet/config.json", [](auto& j) { j["act_fn"] = "gelu"; });
  expect_failure("render --model " + m + " --prompts " + prompts_, {"unet/config.json", "act_fn", "gelu"});
  const auto s = m + "/scheduler/scheduler_config.json";
  edit_json(m + "/unet/config.json", [](auto& j) { j["act_fn"] = "silu"; });
  edit_json(s, [](auto& j) { j["prediction_type"] = "flow"; });
  expect_failure("render --model " + m + " --prompts " + prompts_, {"scheduler_config.json", "prediction_type"});
}

TEST_F(BadInput, MalformedPromptLine) {
  const auto p = write("job.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": \"broken\", \n");
  expect_failure("render --model " + kModel + " --prompts " + p, {"job.jsonl:2"});
  const auto q = write("job2.jsonl", "{\"prompt\": \"ok\", \"stpes\": 3}\n");
  expect_failure("render --model " + kModel + " --prompts " + q, {"job2.jsonl:1", "stpes"});
}

TEST_F(BadInput, SizeNotMultipleOf8) {
  const auto p = write("size.jsonl", "{\"prompt\": \"ok\", \"width\": 30}\n");
  expect_failure("render --model " + kModel + " --prompts " + p, {"size.jsonl:1", "width"});
  const Result r = run("render --model " + kModel + " --prompts " + prompts_ + " --out " + out_ + " --width 33");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("multiples of 8"), std::string::npos) << r.output;
}

TEST_F(BadInput, StepsNotPositive) {
  const auto p = write("steps.jsonl", "{\"prompt\": \"ok\", \"steps\": 0}\n");
  expect_failure("render --model " + kModel + " --prompts " + p, {"steps.jsonl:1", "steps"});
  const Result r = run("render --model " + kModel + " --prompts " + prompts_ + " --out " + out_ + " --steps -2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("steps"), std::string::npos) << r.output;
}

TEST_F(BadInput, UnknownSampler) {
  const auto p = write("sampler.jsonl", "{\"prompt\": \"ok\", \"sampler\": \"plms\"}\n");
  expect_failure("render --model " + kModel + " --prompts " + p, {"sampler.jsonl:1", "sampler", "plms"});
  const Result r = run("render --model " + kModel + " --prompts " + prompts_ + " --out " + out_ + " --sampler k_lms");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("k_lms"), std::string::npos) << r.output;
}

// SDXL's size conditioning: malformed values name the line and field; on an
// SD 1.x model (no added conditioning) the field is an error, not ignored.
TEST_F(BadInput, SdxlSizeFields) {
  const std::string sdxl = std::string(FARM_TEST_DATA) + "/tiny-sdxl";
  const auto p = write("sizes.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": \"ok\", \"original_size\": [1024]}\n");
  expect_failure("render --model " + sdxl + " --prompts " + p, {"sizes.jsonl:2", "original_size", "[height, width]"});
  const auto q = write("crops.jsonl", "{\"prompt\": \"ok\", \"crops_coords_top_left\": [-8, 0]}\n");
  expect_failure("render --model " + sdxl + " --prompts " + q, {"crops.jsonl:1", "crops_coords_top_left", "[top, left]"});
  const auto r = write("target.jsonl", "{\"prompt\": \"ok\", \"target_size\": [0, 0]}\n");
  expect_failure("render --model " + sdxl + " --prompts " + r, {"target.jsonl:1", "target_size"});
  const auto s = write("sd1.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": \"ok\", \"original_size\": [512, 512]}\n");
  expect_failure("render --model " + kModel + " --prompts " + s, {"sd1.jsonl:2", "original_size", "SDXL"});
}

// SDXL's original VAE overflows in fp16: refused before any compute, naming
// the VAE config and the way out (bf16), not decoded to inf/NaN images.
TEST_F(BadInput, SdxlVaeInFp16) {
  const std::string sdxl = std::string(FARM_TEST_DATA) + "/tiny-sdxl";
  expect_failure("render --model " + sdxl + " --prompts " + prompts_ + " --backend cuda-emu --dtype f16",
                 {"vae/config.json", "force_upcast", "--dtype bf16"});
}

TEST_F(BadInput, UnknownBackend) {
  expect_failure("render --model " + kModel + " --prompts " + prompts_ + " --backend metal", {"--backend", "metal"});
}

// Each backend names the dtypes it computes in.
TEST_F(BadInput, DtypeTheBackendDoesNotHave) {
  const std::string base = "render --model " + kModel + " --prompts " + prompts_;
  expect_failure(base + " --dtype f16", {"--dtype f16", "cpu", "f32 or bf16"});
  expect_failure(base + " --backend ref --dtype bf16", {"--dtype bf16", "ref"});
  expect_failure(base + " --backend cuda --dtype f32", {"--dtype f32", "f16 or bf16"});
}

// Without a GPU (every development and CI machine) the CUDA backend must say
// so before any work; on a GPU node the render simply runs.
TEST_F(BadInput, CudaBackendWithoutDeviceSaysSo) {
  const Result r = run("render --model " + kModel + " --prompts " + prompts_ + " --out " + out_ +
                       " --steps 1 --width 32 --height 32 --backend cuda");
  if (r.status == 0) GTEST_SKIP() << "a CUDA device is present: the cuda backend rendered";
  EXPECT_TRUE(r.output.find("no CUDA device found") != std::string::npos ||
              r.output.find("this build has no CUDA backend") != std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out_) && !fs::is_empty(out_)) << "output written despite the error";
}

// The happy path, so the failures above are failures of the input alone.
TEST_F(BadInput, GoodInputRendersWithMetadata) {
  const auto p = write("ok.jsonl", "{\"prompt\": \"a red circle\", \"seed\": 5, \"negative_prompt\": \"blue\"}\n"
                                   "{\"prompt\": \"a green square\", \"seed\": -1, \"guidance\": 1.0}\n");
  const Result r = run("render --model " + kModel + " --prompts " + p + " --out " + out_ +
                       " --steps 2 --width 32 --height 32 --sampler dpmpp_2m_karras");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(out_ + "/00000-5.png")) << r.output;
  size_t pngs = 0;
  for (const auto& e : fs::directory_iterator(out_)) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 2u);
  const auto png = farm::decode_png_file(out_ + "/00000-5.png");
  EXPECT_EQ(png.width, 32);
  std::string params;
  for (const auto& [k, v] : png.text)
    if (k == "parameters") params = v;
  EXPECT_EQ(params,
            "a red circle\nNegative prompt: blue\nSteps: 2, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 5, "
            "Size: 32x32, Model: tiny-sd1");
}

}  // namespace
