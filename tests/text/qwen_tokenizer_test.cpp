// Qwen2 tokenizer against transformers' Qwen2Tokenizer (tests/data/tokenizer/
// qwen_ids.json and the tiny Z-Image pipeline's tokenizer, made by
// tools/reference/make_qwen_tokenizer.py), its regex classes against
// Oniguruma's for every code point, and bad-file errors.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/text/qwen_pretokenizer.h"
#include "farm/text/qwen_tokenizer.h"
#include "tokenizer_test_files.h"

namespace farm::text {
namespace {

using testing::data_path;
using testing::load_json;
using testing::ScratchDir;

const QwenTokenizer& tiny() {
  static const QwenTokenizer t = QwenTokenizer::from_folder(data_path("tiny-zimage/tokenizer"));
  return t;
}

TEST(QwenRegexClasses, EveryCodePointAsOniguruma) {
  const auto table = load_json(data_path("tokenizer/qwen_regex_classes.json"));
  const auto& runs = table["runs"];
  int mismatches = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto first = runs[r][0].get<uint32_t>();
    const auto last = r + 1 < runs.size() ? runs[r + 1][0].get<uint32_t>() : 0x110000u;
    const char want = runs[r][1].get<std::string>()[0];
    for (uint32_t cp = first; cp < last; ++cp) {
      const char got = static_cast<char>(qwen_char_class(cp));
      if (got != want && ++mismatches <= 10) ADD_FAILURE() << "U+" << std::hex << cp << ": " << got << ", want " << want;
    }
  }
  EXPECT_EQ(mismatches, 0) << "of 0x110000 code points (" << table["engine"].get<std::string>() << ")";
}

TEST(QwenPretokenizer, RegexBranches) {
  using W = std::vector<std::string>;
  // Worked by hand from the regex's branches, first match wins.
  EXPECT_EQ(qwen_pretokenize("a  b"), (W{"a", " ", " b"}));           // \s+(?!\S) leaves one space
  EXPECT_EQ(qwen_pretokenize("a \n\n b"), (W{"a", " \n\n", " b"}));   // \s*[\r\n]+ to the last newline
  EXPECT_EQ(qwen_pretokenize("x   "), (W{"x", "   "}));               // a run at the end stays whole
  EXPECT_EQ(qwen_pretokenize("I'm 2024!\n\nok"), (W{"I", "'m", " ", "2", "0", "2", "4", "!\n\n", "ok"}));
  EXPECT_EQ(qwen_pretokenize("it'S 'sa"), (W{"it", "'S", " '", "sa"}));
  EXPECT_EQ(qwen_pretokenize(".abc ..def"), (W{".abc", " ..", "def"}));
  EXPECT_EQ(qwen_pretokenize("\tword"), (W{"\tword"}));
  EXPECT_EQ(qwen_pretokenize(""), W{});
}

TEST(QwenTokenizer, ChatTemplate) {
  EXPECT_EQ(QwenTokenizer::chat_text("a cat"), "<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n");
}

TEST(QwenTokenizer, SameIdsAsTransformers) {
  const auto ref = load_json(data_path("tokenizer/qwen_ids.json"));
  for (const auto& [token, id] : ref["special"].items()) EXPECT_EQ(tiny().find(token), id.get<int64_t>()) << token;
  EXPECT_EQ(tiny().max_length(), ref["max_length"].get<int>());
  int truncated = 0;
  for (const auto& c : ref["cases"]) {
    const std::string prompt = c["prompt"].get<std::string>();
    SCOPED_TRACE(prompt.substr(0, 80));
    EXPECT_EQ(QwenTokenizer::chat_text(prompt), c["text"].get<std::string>());
    EXPECT_EQ(tiny().token_ids(prompt), c["plain"].get<std::vector<int64_t>>());
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tiny().encode_prompt(prompt), ids);
    truncated += ids.size() == 512;
  }
  EXPECT_GE(ref["cases"].size(), 400u);
  EXPECT_GE(truncated, 3);  // the template's tail cut off, as in diffusers
}

TEST(QwenTokenizer, ShorterMaxLength) {
  const auto t = QwenTokenizer::from_folder(data_path("tiny-zimage/tokenizer"), 7);
  const auto full = tiny().encode_prompt("a photo of a cat, 4k");
  const auto cut = t.encode_prompt("a photo of a cat, 4k");
  ASSERT_EQ(cut.size(), 7u);
  EXPECT_EQ(cut, std::vector<int64_t>(full.begin(), full.begin() + 7));
}

// --- bad files ---------------------------------------------------------------

void expect_error(const std::function<void()>& make, const std::vector<std::string>& parts) {
  try {
    make();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const farm::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// The tiny tokenizer.json with `edit` applied, written to a scratch folder.
std::string edited(const ScratchDir& dir, const std::function<void(nlohmann::json&)>& edit) {
  auto j = load_json(data_path("tiny-zimage/tokenizer/tokenizer.json"));
  edit(j);
  dir.write("tokenizer.json", j.dump());
  return dir.file("tokenizer.json");
}

TEST(QwenTokenizerErrors, MissingAndMalformedFiles) {
  ScratchDir dir("qwen_tok");
  expect_error([&] { QwenTokenizer::from_folder(dir.path().string()); }, {dir.path().string(), "lacks tokenizer.json"});
  dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\"");
  expect_error([&] { QwenTokenizer::from_folder(dir.path().string()); }, {dir.file("tokenizer.json"), "not valid JSON"});
}

TEST(QwenTokenizerErrors, NotQwen2sPipeline) {
  ScratchDir dir("qwen_tok");
  const auto path = [&](auto edit) { return edited(dir, edit); };
  expect_error([&] { QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) { j["normalizer"] = nullptr; })); },
               {"tokenizer.json", "field 'normalizer'", "NFC"});
  expect_error(
      [&] {
        QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) {
          j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
        }));
      },
      {"field 'pre_tokenizer'", "Split"});
  expect_error([&] { QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; })); },
               {"field 'model'", "WordPiece"});
  expect_error(
      [&] { QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) { j["model"]["vocab"].erase("Ġ"); })); },
      {"model.vocab lacks the byte token 'Ġ'", "byte 32"});
  expect_error(
      [&] {
        QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) { j["model"]["merges"][3] = {"a", "nope"}; }));
      },
      {"model.merges[3]", "'nope' is not in model.vocab"});
  expect_error([&] { QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) { j["model"]["merges"][0] = "ab"; })); },
               {"model.merges[0]", "expected \"left right\""});
  expect_error(
      [&] {
        QwenTokenizer::from_tokenizer_json(path([](nlohmann::json& j) {
          j["added_tokens"].erase(j["added_tokens"].begin() + 1);  // <|im_start|>
        }));
      },
      {"lacks the added token '<|im_start|>'", "chat template"});
  expect_error([&] { QwenTokenizer::from_folder(data_path("tiny-zimage/tokenizer"), 0); }, {"max_length 0"});
}

}  // namespace
}  // namespace farm::text
