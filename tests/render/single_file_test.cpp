// Single-file checkpoints (original LDM/SGM key names, as users download
// them): tests/data/single-file/tiny-*.safetensors were written from the tiny
// diffusers folders by tools/reference/make_single_files.py, which checks each
// against diffusers' own single-file converters. farm must render the same
// PNG bytes from the file (in a folder of the model's configs, as diffusers'
// from_single_file(config=...)) as from the diffusers folder, for SD 1.x,
// SD 2.x (OpenCLIP: fused in_proj, 1x1-conv VAE attention) and SDXL; and
// name the file and key when a file does not fit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "farm/coord/png.h"
#include "tests/support/run_command.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = FARM_TEST_DATA;

std::vector<char> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The tiny folder's configs and tokenizers (no weights) under the same folder
// name, so the images' metadata names the same model, plus its checkpoint.
std::string configs_with_checkpoint(const fs::path& root, const std::string& name) {
    const fs::path src = kData + "/" + name, dst = root / "file" / name;
    fs::create_directories(dst);
    fs::copy_file(src / "model_index.json", dst / "model_index.json");
    for (const auto& e : fs::directory_iterator(src)) {
      if (!e.is_directory()) continue;
      const fs::path part = dst / e.path().filename();
      fs::create_directories(part);
      for (const auto& f : fs::directory_iterator(e.path()))
        if (f.path().extension() != ".safetensors") fs::copy_file(f.path(), part / f.path().filename());
    }
    fs::copy_file(kData + "/single-file/" + name + ".safetensors", dst / "checkpoint.safetensors");
    return dst.string();
}

class SingleFile : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("farm_single_file_" + std::to_string(::getpid()) + "_" + GetParam());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string configs_with_checkpoint() { return ::configs_with_checkpoint(root_, GetParam()); }

  fs::path root_;
};

TEST_P(SingleFile, SamePngBytesAsTheDiffusersFolder) {
  const std::string prompts = (root_ / "p.jsonl").string();
  // The third item patches every part with a LoRA (kohya names) on the layers read from the file.
  std::ofstream(prompts) << "{\"prompt\": \"a photo of a cat\", \"seed\": 3}\n"
                            "{\"prompt\": \"A Red Circle, on the LEFT!!\", \"negative_prompt\": \"blurry\", \"seed\": 4}\n"
                            "{\"prompt\": \"a photo of a cat <lora:kohya:0.7>\", \"seed\": 5}\n";
  const std::string common = " --prompts " + prompts + " --steps 2 --width 64 --height 48 --sampler euler" +
                             " --lora-dir " + kData + "/lora/" + GetParam();
  const auto a = farm::test::run_farm("render --model " + kData + "/" + GetParam() + " --out " +
                                      (root_ / "a").string() + common);
  ASSERT_EQ(a.status, 0) << a.output;
  const auto b = farm::test::run_farm("render --model " + configs_with_checkpoint() + " --out " +
                                      (root_ / "b").string() + common);
  ASSERT_EQ(b.status, 0) << b.output;
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(root_ / "a")) {
    if (e.path().extension() != ".png") continue;
    ++pngs;
    EXPECT_EQ(bytes_of(e.path()), bytes_of(root_ / "b" / e.path().filename())) << e.path().filename();
  }
  EXPECT_EQ(pngs, 3);
}

// SD 2.x: the original YAML beside the checkpoint decides the prediction
// type, as the LDM configs do (2.1 768-v: parameterization "v"; 2.x base:
// none, epsilon). tiny-sd2's own scheduler config says v_prediction.
TEST(SingleFileSd2, SidecarYamlSetsThePredictionType) {
  const fs::path root_ = fs::temp_directory_path() / ("farm_single_file_yaml_" + std::to_string(::getpid()));
  fs::remove_all(root_);
  fs::create_directories(root_);
  const std::string prompts = (root_ / "p.txt").string();
  std::ofstream(prompts) << "a photo of a cat\n";
  const std::string common = " --prompts " + prompts + " --steps 2 --width 32 --height 32 --seed 5";
  const std::string model = configs_with_checkpoint(root_, "tiny-sd2");
  const auto render = [&](const std::string& out) {
    const auto r = farm::test::run_farm("render --model " + model + " --out " + (root_ / out).string() + common);
    EXPECT_EQ(r.status, 0) << r.output;
    return bytes_of(root_ / out / "00000-5.png");
  };
  const auto plain = render("plain");
  std::ofstream(fs::path(model) / "checkpoint.yaml") << "model:\n  params:\n    parameterization: \"v\"\n";
  EXPECT_EQ(render("v"), plain) << "parameterization v is the config's own v_prediction";
  std::ofstream(fs::path(model) / "checkpoint.yaml") << "model:\n  params:\n    linear_start: 0.00085\n";
  EXPECT_NE(render("eps"), plain) << "no parameterization: epsilon";
  fs::remove_all(root_);
}

INSTANTIATE_TEST_SUITE_P(Tiny, SingleFile, ::testing::Values("tiny-sd1", "tiny-sd2", "tiny-sdxl"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// The SDXL refiner as a single file (conditioner.embedders.0.model.*: OpenCLIP
// bigG, its one encoder) behind the base: the same PNG bytes as its folder.
TEST(SingleFileRefiner, SamePixelsAsTheDiffusersFolder) {
  const fs::path root = fs::temp_directory_path() / ("farm_single_file_refiner_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string prompts = (root / "p.jsonl").string();
  std::ofstream(prompts) << "{\"prompt\": \"a photo of a cat\", \"seed\": 3}\n"
                            "{\"prompt\": \"A Red Circle\", \"negative_prompt\": \"blurry\", \"seed\": 4, "
                            "\"refiner_switch\": 0.5}\n";
  const std::string common = " --model " + kData + "/tiny-sdxl --prompts " + prompts +
                             " --steps 4 --width 64 --height 48 --sampler euler --refiner ";
  const auto a = farm::test::run_farm("render --out " + (root / "a").string() + common + kData + "/tiny-sdxl-refiner");
  ASSERT_EQ(a.status, 0) << a.output;
  const auto b = farm::test::run_farm("render --out " + (root / "b").string() + common +
                                      configs_with_checkpoint(root, "tiny-sdxl-refiner"));
  ASSERT_EQ(b.status, 0) << b.output;
  // The same pixels and A1111 parameters (the refiner's name is the folder's);
  // the farm record differs only in the refiner's path.
  for (const char* png : {"00000-3.png", "00001-4.png"}) {
    const auto x = farm::decode_png_file((root / "a" / png).string()), y = farm::decode_png_file((root / "b" / png).string());
    EXPECT_FALSE(x.rgb.empty()) << png;
    EXPECT_EQ(x.rgb, y.rgb) << png;
    ASSERT_FALSE(x.text.empty());
    EXPECT_EQ(x.text.at(0), y.text.at(0)) << png;
  }
  fs::remove_all(root);
}

// A file alone takes its family's built-in configs (configs/sd15, sd21, sdxl):
// the tiny files do not fit them, and the error names the file, the diffusers
// key, the key in the file and both shapes, before any compute.
TEST(SingleFileErrors, BuiltInConfigsNameTheMisfit) {
  const auto r = farm::test::run_farm("render --model " + kData + "/single-file/tiny-sdxl.safetensors --prompts " +
                                      kData + "/../distributed/sdxl_job.jsonl --out /tmp/farm_sf_never --steps 1 " +
                                      "--width 64 --height 64");
  EXPECT_NE(r.status, 0);
  for (const char* needle : {"tiny-sdxl.safetensors", "(stored as 'model.diffusion_model.", "has shape", "expected"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in: " << r.output;
  EXPECT_FALSE(fs::exists("/tmp/farm_sf_never/00000-11.png"));
}

// A refiner file alone is detected as one (conditioner.embedders.0.model.*)
// and takes configs/sdxl-refiner (full size: VAE scale 8), which the tiny
// base's latents do not fit: an error before any weight is read.
TEST(SingleFileErrors, RefinerFileTakesTheRefinerConfigs) {
  const fs::path root = fs::temp_directory_path() / ("farm_sf_refiner_alone_" + std::to_string(::getpid()));
  const auto r = farm::test::run_farm("render --model " + kData + "/tiny-sdxl --refiner " + kData +
                                      "/single-file/tiny-sdxl-refiner.safetensors --prompts " + kData +
                                      "/../distributed/sdxl_job.jsonl --out " + root.string() +
                                      " --steps 2 --width 64 --height 64");
  EXPECT_NE(r.status, 0);
  for (const char* needle : {"tiny-sdxl-refiner.safetensors", "VAE scale 8"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in: " << r.output;
  EXPECT_FALSE(fs::exists(root / "00000-11.png"));
  fs::remove_all(root);
}

TEST(SingleFileErrors, UnknownLayoutNamesKeys) {
  auto r = farm::test::run_farm("render --model " + kData + "/tiny-sd1/reference.safetensors --prompts " + kData +
                                "/../distributed/sdxl_job.jsonl --out /tmp/farm_sf_never --steps 1");
  EXPECT_NE(r.status, 0);
  for (const char* needle : {"reference.safetensors", "not a checkpoint layout", "pipe."})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in: " << r.output;
  r = farm::test::run_farm("render --model " + kData + "/tiny-sd1/unet/diffusion_pytorch_model.safetensors --prompts " +
                           kData + "/../distributed/sdxl_job.jsonl --out /tmp/farm_sf_never --steps 1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("diffusers component"), std::string::npos) << r.output;
}

}  // namespace
