// SDXL through `farm render`, as a user runs it: each of diffusers' SDXL base
// cases (tools/reference/make_sdxl_reference.py; size conditioning included)
// and base -> refiner ensemble cases (make_refiner_reference.py) as a prompt
// line gives diffusers' image (within one level of 255), the PNG says
// which refiner and switch made it (A1111's words), a rerun resumes, a changed
// switch is a changed item, and bad refiner input is a clear error before any
// weight is read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "farm/coord/png.h"
#include "farm/io/safetensors.h"
#include "tests/support/reference_json.h"
#include "tests/support/render_fixture.h"
#include "tests/support/run_command.h"

namespace fs = std::filesystem;
using farm::test::run_farm;

namespace {

const std::string kData = FARM_TEST_DATA;
const std::string kBase = kData + "/tiny-sdxl", kRefiner = kData + "/tiny-sdxl-refiner";

using SdxlRender = farm::test::RenderFolderTest;
using farm::test::levels_off;

// A reference case as a prompt line (diffusers' argument names are farm's field names).
std::string line_of(const nlohmann::json& c) {
  nlohmann::json line = {{"prompt", c.at("prompt")}, {"seed", c.at("seed")}, {"steps", c.at("steps")},
                         {"guidance", c.at("guidance")}, {"width", c.at("width")}, {"height", c.at("height")},
                         {"sampler", c.at("sampler")}};
  if (c.contains("switch")) line["refiner_switch"] = c.at("switch");
  if (!c.at("negative_prompt").is_null()) line["negative_prompt"] = c.at("negative_prompt");
  for (const char* k : {"original_size", "crops_coords_top_left", "target_size", "aesthetic_score",
                        "negative_aesthetic_score"})
    if (c.contains(k)) line[k] = c.at(k);
  return line.dump() + "\n";
}

std::string png_name(size_t index, const nlohmann::json& c) {
  char name[64];
  std::snprintf(name, sizeof name, "%05zu-%lld.png", index, c.at("seed").get<long long>());
  return name;
}

TEST_F(SdxlRender, EverySdxlBaseCaseGivesDiffusersImage) {
  const auto info = farm::testing::read_reference_json(kBase + "/reference.json");
  const farm::SafetensorsFile ref(kBase + "/reference.safetensors");
  std::string lines;
  const auto& cases = info.at("pipeline").at("cases");
  for (const auto& c : cases) lines += line_of(c);
  const auto r = run_farm("render --model " + kBase + " --prompts " + write("p.jsonl", lines) + " --out " +
                          (root_ / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto png = farm::decode_png_file((root_ / "out" / png_name(i, cases[i])).string());
    EXPECT_LE(levels_off(png, ref.load_f32("pipe." + cases[i].at("name").get<std::string>() + ".image")), 1)
        << cases[i].at("name");
  }
}

TEST_F(SdxlRender, EveryEnsembleCaseGivesDiffusersImage) {
  const auto info = farm::testing::read_reference_json(kRefiner + "/reference.json");
  const farm::SafetensorsFile ref(kRefiner + "/reference.safetensors");
  std::string lines;
  std::vector<nlohmann::json> cases;
  for (const auto& c : info.at("ensemble").at("cases")) {
    lines += line_of(c);
    cases.push_back(c);
  }
  const auto r = run_farm("render --model " + kBase + " --refiner " + kRefiner + " --prompts " +
                          write("p.jsonl", lines) + " --out " + (root_ / "out").string() + " --batch 2");
  ASSERT_EQ(r.status, 0) << r.output;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto png = farm::decode_png_file((root_ / "out" / png_name(i, c)).string());
    EXPECT_LE(levels_off(png, ref.load_f32("pipe." + c.at("name").get<std::string>() + ".image")), 1) << c.at("name");
    std::string params;
    for (const auto& [k, v] : png.text)
      if (k == "parameters") params = v;
    std::ostringstream sw;
    sw << c.at("switch").get<double>();
    EXPECT_NE(params.find(", Refiner: tiny-sdxl-refiner, Refiner switch at: " + sw.str()), std::string::npos)
        << params;
  }
}

TEST_F(SdxlRender, RerunResumesAndAChangedSwitchIsAChangedItem) {
  const std::string p = write("p.jsonl", "{\"prompt\": \"a photo of a cat\", \"seed\": 1}\n"
                                         "{\"prompt\": \"a red circle\", \"seed\": 2, \"refiner\": \"\"}\n");
  const std::string cmd = "render --model " + kBase + " --prompts " + p + " --out " + (root_ / "out").string() +
                          " --steps 4 --width 64 --height 48 --sampler euler --refiner " + kRefiner;
  auto r = run_farm(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_farm(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("0 to render"), std::string::npos) << r.output;
  r = run_farm(cmd + " --refiner-switch 0.5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("1 items differ"), std::string::npos) << r.output;  // the refiner-less line is unchanged
  r = run_farm(cmd + " --refiner-switch 0.5 --rerender-changed");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 to render"), std::string::npos) << r.output;
}

TEST_F(SdxlRender, BadRefinerInputIsAClearErrorBeforeAnyWeight) {
  const std::string ok = write("ok.jsonl", "{\"prompt\": \"a cat\", \"seed\": 1}\n");
  const std::string out = " --out " + (root_ / "out").string() + " --steps 2 --width 64 --height 48";
  struct Case {
    std::string args, expect;
  };
  const std::string sd1 = kData + "/tiny-sd1";
  const std::vector<Case> cases = {
      {"--model " + kBase + " --refiner " + kBase + " --prompts " + ok, "not an SDXL refiner"},
      {"--model " + sd1 + " --refiner " + kRefiner + " --prompts " + ok, "follows an SDXL base"},
      {"--model " + kRefiner + " --prompts " + ok, "--refiner"},
      {"--model " + kBase + " --refiner " + kRefiner + " --refiner-switch 1.5 --prompts " + ok, "refiner_switch"},
      {"--model " + kBase + " --refiner /nonexistent/refiner --prompts " + ok, "/nonexistent/refiner"},
      {"--model " + kBase + " --refiner-stages 1 --prompts " + ok, "--refiner-stages 1: the job has no refiner"},
      {"--model " + kBase + " --refiner " + kRefiner + " --refiner-stages 1 --prompts " + ok, "--refiner-stages 1"},
      {"--model " + kBase + " --prompts " +
           write("two.jsonl", "{\"prompt\": \"a\", \"refiner\": \"" + kRefiner + "\"}\n{\"prompt\": \"b\", \"refiner\": \"" +
                                  kBase + "\"}\n"),
       "two.jsonl:2: field 'refiner'"},
      {"--model " + kBase + " --refiner " + kRefiner + " --prompts " +
           write("bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"aesthetic_score\": 11}\n"),
       "bad.jsonl:2"},
      {"--model " + kBase + " --refiner " + kRefiner + " --prompts " +
           write("sw.jsonl", "{\"prompt\": \"a\", \"refiner_switch\": \"0.8\"}\n"),
       "sw.jsonl:1"},
  };
  for (const auto& c : cases) {
    fs::remove_all(root_ / "out");
    const auto r = run_farm("render " + c.args + out);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\nexpected '" << c.expect << "' in:\n" << r.output;
    EXPECT_EQ(r.output.find("loaded"), std::string::npos) << c.args << ": weights were read\n" << r.output;
    EXPECT_FALSE(fs::exists(root_ / "out" / "00000-1.png"));
  }
}

}  // namespace
