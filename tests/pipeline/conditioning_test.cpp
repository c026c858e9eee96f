// A1111-style conditioning (weights, BREAK, prompts of any length in
// 75-token chunks, a negative prompt padded to its prompt's chunks,
// clip skip) against tests/data/prompt_syntax, which
// tools/reference/make_prompt_reference.py computed with transformers'
// CLIPTextModel and A1111's rule written in Python.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../support/compare.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/sd_model.h"
#include "kernels/backend.h"

namespace farm {
namespace {

struct Case {
  std::string model, name;
  std::vector<std::string> prompts;
  int clip_skip = 1;
};

std::vector<Case> all_cases() {
  std::ifstream in(std::string(FARM_TEST_DATA) + "/prompt_syntax/cases.json");
  const auto j = nlohmann::json::parse(in);
  std::vector<Case> out;
  for (const char* m : {"tiny-sd1", "tiny-sd2"})
    for (const auto& c : j.at("cases"))
      out.push_back({m, c.at("name").get<std::string>(), c.at("prompts").get<std::vector<std::string>>(),
                     c.at("clip_skip").get<int>()});
  return out;
}

const pipeline::SdModel& model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<pipeline::SdModel>> models;
  auto& m = models[name];
  if (!m)
    m = std::make_unique<pipeline::SdModel>(
        pipeline::SdModel::load(std::string(FARM_TEST_DATA) + "/" + name, kernels::cpu_backend()));
  return *m;
}

class Conditioning : public ::testing::TestWithParam<Case> {};

TEST_P(Conditioning, MatchesA1111RuleOnTransformers) {
  const Case& c = GetParam();
  const auto& m = model(c.model);
  const SafetensorsFile ref(std::string(FARM_TEST_DATA) + "/prompt_syntax/" + c.model + ".safetensors");
  // The ids of every row's chunks, exactly.
  const std::vector<int64_t> want_ids = ref.load_i64(c.name + ".ids");
  const size_t per_row = want_ids.size() / c.prompts.size();
  for (size_t r = 0; r < c.prompts.size(); ++r) {
    auto chunks = text::prompt_chunks(*m.tokenizer, c.prompts[r], {});
    text::pad_chunks(chunks, static_cast<int>(per_row / 77), *m.tokenizer);
    const std::vector<int64_t> want(want_ids.begin() + static_cast<std::ptrdiff_t>(r * per_row),
                                    want_ids.begin() + static_cast<std::ptrdiff_t>((r + 1) * per_row));
    EXPECT_EQ(chunks.ids, want) << c.name << " row " << r;
  }
  const Tensor z = m.backend->to_host(encode_conditioning(m, c.prompts, c.clip_skip, {}).context);
  // Unweighted: the text encoder's own bound (model_reference_test). Weighted:
  // the rescale by mean(z) / mean(w·z) divides by a mean a few hundredths of
  // the values' scale, so the encoder's rounding differences come out a few
  // times larger (measured: at most 6.6e-6 rel, tiny-sd1 "long").
  bool weighted = false;
  for (const auto& p : c.prompts) weighted = weighted || text::prompt_chunks(*m.tokenizer, p, {}).weighted();
  testing::expect_close(c.model + " " + c.name, z, ref.load_f32(c.name + ".z"), weighted ? 2e-5 : 5e-6);
}

TEST_P(Conditioning, EachRowAsIfAlone) {
  // A row's embedding does not depend on the other rows (beyond the chunk
  // count they share): the same prompt encoded alone, padded to that count.
  const Case& c = GetParam();
  if (c.prompts.size() < 2) GTEST_SKIP() << "one row";
  const auto& m = model(c.model);
  const Tensor both = m.backend->to_host(encode_conditioning(m, c.prompts, c.clip_skip, {}).context);
  const int64_t per = both.size() / both.dim(0);
  for (size_t r = 0; r < c.prompts.size(); ++r) {
    const Tensor alone = m.backend->to_host(encode_conditioning(m, {c.prompts[r]}, c.clip_skip, {}).context);
    const std::vector<float> row(both.data.begin() + static_cast<int64_t>(r) * per,
                                 both.data.begin() + static_cast<int64_t>(r) * per + alone.size());
    EXPECT_EQ(row, alone.data) << c.name << " row " << r << ": its first chunks differ when encoded alone";
  }
}

INSTANTIATE_TEST_SUITE_P(PromptSyntax, Conditioning, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           std::string n = info.param.model + "_" + info.param.name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace farm
