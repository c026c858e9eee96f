// A tokenizer folder as transformers 5 saves it (tokenizer.json and
// tokenizer_config.json only; tests/data/tokenizer/hf5-sd1, written by
// transformers 5.24 through tools/reference/make_tokenizer_json.py): farm
// reads its vocabulary and merges and gives, for every reference prompt,
// the ids transformers' slow CLIPTokenizer gives (clip_ids.json without
// ftfy, clip_ids_ftfy.json with it) — the same as from vocab.json +
// merges.txt. transformers 5's own CLIPTokenizer differs from the slow one
// on some prompts (recorded as hf5_sd1 in clip_ids.json); farm keeps the
// slow reading, which A1111 and the original CLIP have, for both folder kinds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/text/clip_tokenizer.h"
#include "tokenizer_test_files.h"

namespace farm::text {
namespace {

using testing::data_path;
using testing::load_json;
using testing::ScratchDir;

ClipTokenizer hf5_folder(bool fix_text) {
  ClipTokenizerOptions options;
  options.fix_text = fix_text;
  return ClipTokenizer::from_folder(data_path("tokenizer/hf5-sd1"), options);
}

TEST(TokenizerJson, FolderHasNoVocabJson) {
  EXPECT_FALSE(std::filesystem::exists(data_path("tokenizer/hf5-sd1/vocab.json")));
  EXPECT_TRUE(std::filesystem::exists(data_path("tokenizer/hf5-sd1/tokenizer.json")));
}

TEST(TokenizerJson, IdsMatchTheSlowTokenizerWithoutFtfy) {
  const ClipTokenizer tok = hf5_folder(false);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.max_length(), 77);
  const auto ref = load_json(data_path("tokenizer/clip_ids.json"));
  int same = 0, hf5_differs = 0;
  for (const auto& p : ref["prompts"]) {
    const auto want = p["ids_sd1"].get<std::vector<int64_t>>();
    const auto got = tok.encode(p["text"].get<std::string>());
    EXPECT_EQ(got, want) << p["text"].dump();
    same += got == want;
    hf5_differs += p.contains("hf5_sd1");
  }
  std::printf("tokenizer.json folder, no ftfy: %d/%zu prompts identical to the slow tokenizer "
              "(transformers 5's own tokenizer differs on %d)\n",
              same, ref["prompts"].size(), hf5_differs);
  EXPECT_GE(ref["prompts"].size(), 60u);
}

TEST(TokenizerJson, IdsMatchTheSlowTokenizerWithFtfy) {
  const ClipTokenizer tok = hf5_folder(true);
  const auto ref = load_json(data_path("tokenizer/clip_ids_ftfy.json"));
  for (const auto& p : ref["prompts"])
    EXPECT_EQ(tok.encode(p["text"].get<std::string>()), p["ids_sd1"].get<std::vector<int64_t>>()) << p["text"].dump();
  EXPECT_GE(ref["prompts"].size(), 100u);
}

// Bad tokenizer.json files: an error naming the file and what was expected.
TEST(TokenizerJson, BadFilesNameTheFileAndTheField) {
  const std::string good_vocab = R"("vocab":{"a":0})";
  struct Case {
    const char* name;
    std::string json;
    const char* says;
  };
  const Case cases[] = {
      {"not json", "{\"model\": ", "not valid JSON"},
      {"no model", "{\"version\": \"1.0\"}", "'model' object"},
      {"wordpiece", R"({"model":{"type":"WordPiece","vocab":{"a":0}}})", "expected a CLIP byte-level BPE"},
      {"bpe without </w>", R"({"model":{"type":"BPE","end_of_word_suffix":null,"vocab":{"a":0},"merges":[]}})",
       "expected a CLIP byte-level BPE"},
      {"no merges", R"({"model":{"type":"BPE","end_of_word_suffix":"</w>","vocab":{"a":0}}})", "'merges' list"},
      {"not clip bytes", R"({"model":{"type":"BPE","end_of_word_suffix":"</w>","vocab":{"a":0},"merges":[]}})",
       "lacks the byte token"},
  };
  for (const Case& c : cases) {
    ScratchDir dir("tokjson");
    dir.write("tokenizer.json", c.json);
    try {
      (void)ClipTokenizer::from_folder(dir.path().string());
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(dir.file("tokenizer.json")), std::string::npos) << c.name << ": " << what;
      EXPECT_NE(what.find(c.says), std::string::npos) << c.name << ": " << what;
    }
  }
}

// A merge of the real vocabulary that is malformed, or names a symbol the
// vocabulary lacks: the entry's index and text.
TEST(TokenizerJson, BadMergeNamesItsIndex) {
  auto j = load_json(data_path("tokenizer/hf5-sd1/tokenizer.json"));
  for (const auto& [bad, says] : {std::pair<nlohmann::json, const char*>{nlohmann::json::array({"i"}), "expected"},
                                  {nlohmann::json::array({"i", "zzzq"}), "'zzzq' is not in"}}) {
    auto broken = j;
    broken["model"]["merges"][5] = bad;
    ScratchDir dir("tokjson_merge");
    dir.write("tokenizer.json", broken.dump());
    try {
      (void)ClipTokenizer::from_folder(dir.path().string());
      ADD_FAILURE() << bad.dump() << ": no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("model.merges[5]"), std::string::npos) << what;
      EXPECT_NE(what.find(says), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace farm::text
