// The shipped tiny-shapes model rendered by farm: (1) the held-out captions
// (never seen in training), through the real `farm render` command, judged by
// the shape checker — at least 85 % must be right on every attribute; (2) a
// few renders compared with diffusers' own pipeline on the same weights, seed
// and sampler (tools/train/evaluate.py wrote them): final latents and 8-bit
// pixels within stated bounds.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "farm/coord/png.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/txt2img.h"
#include "tests/shapes/shape_checker.h"
#include "tests/support/compare.h"

namespace fs = std::filesystem;
using namespace farm;

namespace {

const std::string kModel = std::string(FARM_MODELS_DIR) + "/tiny-shapes";
const std::string kData = std::string(FARM_TEST_DATA) + "/shapes";

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// The job fields farm reads; the reference rows carry extra fields (verdicts).
nlohmann::json job_row(const nlohmann::json& r) {
  nlohmann::json j;
  for (const char* k : {"prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "sampler"})
    j[k] = r.at(k);
  return j;
}

// Each cpu dtype: f32, and bf16 (bf16 GEMMs; f32 where the CPU has no AMX).
class TinyShapesDtype : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyShapesDtype, HeldOutCaptionsAreDrawnRight) {
  const auto rows = read_jsonl(kData + "/heldout.jsonl");
  ASSERT_GE(rows.size(), 40u);
  const fs::path dir = fs::temp_directory_path() / ("farm_shapes_" + GetParam() + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream job(dir / "heldout.jsonl");
    for (const auto& r : rows) job << job_row(r).dump() << "\n";
  }
  const std::string cmd = std::string(FARM_BIN) + " render --model " + kModel + " --prompts " +
                          (dir / "heldout.jsonl").string() + " --out " + (dir / "out").string() + " --batch 4 --dtype " + GetParam() + " 2>&1";
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << cmd;

  std::array<int, 5> right{};
  int all_right = 0, diffusers_all_right = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    char name[64];
    std::snprintf(name, sizeof name, "%05zu-%lld.png", i, static_cast<long long>(r.at("seed").get<int64_t>()));
    const auto png = decode_png_file((dir / "out" / name).string());
    const auto caption = r.at("prompt").get<std::string>();
    const auto v = shapes::judge(shapes::analyse(png.width, png.height, png.rgb), shapes::parse_caption(caption));
    bool all = true;
    for (size_t k = 0; k < v.size(); ++k) {
      right[k] += v[k];
      all = all && v[k];
    }
    all_right += all;
    if (r.contains("diffusers_verdict")) {
      bool d = true;
      for (const auto& [k, ok] : r.at("diffusers_verdict").items()) d = d && ok.get<bool>();
      diffusers_all_right += d;
    }
    if (!all) std::printf("[shapes] judged wrong: %s (%s)\n", caption.c_str(), name);
  }
  const double n = static_cast<double>(rows.size());
  std::printf("[shapes] %s: %zu held-out captions: all attributes right %.1f %% (diffusers' renders: %.1f %%)\n",
              GetParam().c_str(), rows.size(), 100.0 * all_right / n, 100.0 * diffusers_all_right / n);
  for (size_t k = 0; k < right.size(); ++k)
    std::printf("[shapes]   %-10s %.1f %%\n", shapes::kAttributes[k], 100.0 * right[k] / n);
  EXPECT_GE(all_right / n, 0.85);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Cpu, TinyShapesDtype, ::testing::Values("f32", "bf16"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// farm against diffusers on the same weights, seed and sampler. The latents
// bound is relative to max |latent|: fp32 reordering noise through 20–25
// steps; the pixel bound lets a rounding tie land one level apart.
TEST(TinyShapes, RendersMatchDiffusers) {
  const auto model = pipeline::SdModel::load(kModel, kernels::cpu_backend());
  const SafetensorsFile ref(kData + "/references.safetensors");
  for (const auto& r : read_jsonl(kData + "/references.jsonl")) {
    const std::string name = r.at("name").get<std::string>();
    pipeline::Txt2ImgRequest q;
    q.prompt = r.at("prompt").get<std::string>();
    q.negative_prompt = r.at("negative_prompt").get<std::string>();
    q.seed = r.at("seed").get<uint64_t>();
    q.steps = r.at("steps").get<int>();
    q.guidance = r.at("guidance").get<float>();
    q.width = r.at("width").get<int>();
    q.height = r.at("height").get<int>();
    q.sampler = r.at("sampler").get<std::string>();
    const Tensor latents = pipeline::denoise(model, {q});
    farm::testing::expect_close(name + " final latents", nhwc_to_nchw(latents), ref.load_f32(name + ".latents"), 1e-5);
    const auto mine = pipeline::to_rgb8(pipeline::decode_latents(model, latents))[0];
    const auto theirs = decode_png_file(kData + "/" + name + ".png");
    ASSERT_EQ(theirs.rgb.size(), mine.rgb.size());
    int max_diff = 0;
    size_t same = 0;
    for (size_t i = 0; i < mine.rgb.size(); ++i) {
      const int d = std::abs(int(mine.rgb[i]) - int(theirs.rgb[i]));
      max_diff = std::max(max_diff, d);
      same += d == 0;
    }
    std::printf("[error] %-40s 8-bit max |diff| %d, identical %.2f %%\n", name.c_str(), max_diff,
                100.0 * same / mine.rgb.size());
    EXPECT_LE(max_diff, 1) << name;
  }
}

}  // namespace
