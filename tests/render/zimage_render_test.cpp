// Z-Image through `farm render`, as a user runs it: diffusers' ZImagePipeline
// cases (tools/reference/make_tiny_zimage.py) as prompt lines give diffusers'
// images (within one level of 255) in one job, batched and not; the PNG
// carries the parameters with Z-Image's guidance rule; the family's defaults
// (flow_euler, guidance 0, plain prompts); and what the family cannot take is
// a clear error naming the line and field, before any weight is read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "farm/coord/png.h"
#include "farm/io/safetensors.h"
#include "tests/support/reference_json.h"
#include "tests/support/render_fixture.h"
#include "tests/support/run_command.h"

namespace fs = std::filesystem;
using farm::test::run_farm;

namespace {

const std::string kModel = std::string(FARM_TEST_DATA) + "/tiny-zimage";

class ZImageRender : public farm::test::RenderFolderTest {
 protected:
  std::string out() const { return (root_ / "out").string(); }
};
using farm::test::levels_off;

std::string text_of(const farm::DecodedPng& png, const std::string& key) {
  for (const auto& [k, v] : png.text)
    if (k == key) return v;
  return {};
}

// The cases that use the folder's own scheduler (the dynamic-shift case overrides it).
std::vector<nlohmann::json> folder_cases() {
  std::vector<nlohmann::json> cases;
  const auto info = farm::testing::read_reference_json(kModel + "/reference.json");
  for (const auto& c : info.at("pipeline").at("cases"))
    if (!c.at("dynamic").get<bool>()) cases.push_back(c);
  return cases;
}

std::string line_of(const nlohmann::json& c) {
  nlohmann::json line = {{"prompt", c.at("prompt")}, {"seed", c.at("seed")},   {"steps", c.at("steps")},
                         {"guidance", c.at("guidance")}, {"width", c.at("width")}, {"height", c.at("height")}};
  if (!c.at("negative_prompt").is_null()) line["negative_prompt"] = c.at("negative_prompt");
  return line.dump() + "\n";
}

TEST_F(ZImageRender, DiffusersCasesGiveDiffusersImagesBatchedOrNot) {
  const auto cases = folder_cases();
  ASSERT_GE(cases.size(), 2u);
  const farm::SafetensorsFile ref(kModel + "/reference.safetensors");
  std::string lines;
  for (const auto& c : cases) lines += line_of(c) + line_of(c);  // twice: batch-mates of themselves
  const std::string p = write("p.jsonl", lines);
  for (const char* batch : {"1", "2"}) {
    const std::string dir = out() + batch;
    const auto r = run_farm("render --model " + kModel + " --prompts " + p + " --out " + dir + " --batch " + batch);
    ASSERT_EQ(r.status, 0) << r.output;
    for (size_t i = 0; i < 2 * cases.size(); ++i) {
      const auto& c = cases[i / 2];
      char name[64];
      std::snprintf(name, sizeof name, "/%05zu-%lld.png", i, c.at("seed").get<long long>());
      const auto png = farm::decode_png_file(dir + name);
      EXPECT_LE(levels_off(png, ref.load_f32("pipe." + c.at("name").get<std::string>() + ".image")), 1)
          << c.at("name") << " batch " << batch;
      const std::string params = text_of(png, "parameters");
      // A1111's CFG scale is SD's: Z-Image's guidance g is written as g + 1.
      char cfg[64];
      std::snprintf(cfg, sizeof cfg, "Sampler: Flow Euler, CFG scale: %.1f,", c.at("guidance").get<double>() + 1);
      EXPECT_NE(params.find(cfg), std::string::npos) << params;
      const auto farm_json = nlohmann::json::parse(text_of(png, "farm"));
      EXPECT_EQ(farm_json.at("guidance").get<double>(), c.at("guidance").get<double>());
      EXPECT_NE(farm_json.at("guidance_rule").get<std::string>().find("pos + guidance * (pos - neg)"),
                std::string::npos);
    }
  }
}

TEST_F(ZImageRender, FamilyDefaultsAndErrorsBeforeAnyWeight) {
  // Defaults: flow_euler, guidance 0 (Turbo's), 8 steps, plain prompts (a
  // literal "(word:1.5)" is text, not a weight).
  auto r = run_farm("render --model " + kModel + " --prompts " + write("ok.txt", "a (red:1.5) fox\n") + " --out " +
                    out() + " --width 32 --height 32 --seed 3");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto png = farm::decode_png_file(out() + "/00000-3.png");
  const std::string params = text_of(png, "parameters");
  EXPECT_NE(params.find("a (red:1.5) fox\nSteps: 8, Sampler: Flow Euler, CFG scale: 1.0,"), std::string::npos) << params;

  struct Case {
    std::string line, flags, expect;
  };
  const std::vector<Case> cases = {
      {R"({"prompt": "a", "sampler": "euler_a"})", "", "bad.jsonl:1: sampler 'euler_a': Z-Image samples with flow_euler"},
      {R"({"prompt": "a", "width": 36, "height": 24})", "", "bad.jsonl:1: "},
      {R"({"prompt": "a", "guidance": -1})", "", "bad.jsonl:1: field 'guidance': expected a finite number >= 0"},
      {R"({"prompt": "a", "refiner": "x"})", "", "refiner: a Z-Image model has no refiner"},
      {R"({"prompt": "a"})", "--prompt-syntax a1111", "Z-Image's Qwen3 encoder reads the prompt as plain text"},
      {R"({"prompt": "a"})", "--sampler ddim", "sampler 'ddim': Z-Image samples with flow_euler"},
  };
  for (const auto& c : cases) {
    r = run_farm("render --model " + kModel + " --prompts " + write("bad.jsonl", c.line + "\n") + " --out " +
                 (root_ / "bad").string() + " --width 32 --height 32 " + c.flags);
    EXPECT_EQ(r.status, 2) << c.line << c.flags << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.line << c.flags << "\n" << r.output;
    EXPECT_EQ(r.output.find("loaded"), std::string::npos) << r.output;  // no weight was read
  }
  // flow_euler is the flow-matching models' sampler: an SD model refuses it by name.
  r = run_farm("render --model " + std::string(FARM_TEST_DATA) + "/tiny-sd1 --prompts " +
               write("sd.jsonl", R"({"prompt": "a", "sampler": "flow_euler"})" "\n") + " --out " +
               (root_ / "sd").string() + " --width 64 --height 64");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("'flow_euler': a flow-matching sampler, for Z-Image models"), std::string::npos) << r.output;
}

}  // namespace
