// ClipTokenizer's fallback mode (fix_text = false) against transformers' slow
// CLIPTokenizer without ftfy: every prompt of
// tests/data/tokenizer/clip_ids.json, padded the SD 1.x and SD 2.x way, and
// the per-code-point behaviour of its clean-up and regex (char_classes.json).
// The default ftfy mode: text_fix_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "farm/text/clip_pretokenizer.h"
#include "farm/text/clip_tokenizer.h"
#include "tokenizer_test_files.h"

namespace farm::text {
namespace {

using testing::data_path;
using testing::load_json;
using testing::make_tokenizer_folder;
using testing::ScratchDir;

class ClipReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new nlohmann::json(load_json(data_path("tokenizer/clip_ids.json")));
    for (const char* variant : {"sd1", "sd2"}) {
      ScratchDir dir(std::string("tok_") + variant);
      make_tokenizer_folder(dir, variant);
      ClipTokenizerOptions fallback;
      fallback.fix_text = false;
      auto tok = std::make_unique<ClipTokenizer>(ClipTokenizer::from_folder(dir.path().string(), fallback));
      (std::string(variant) == "sd1" ? sd1_ : sd2_) = tok.release();
    }
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete sd1_;
    delete sd2_;
  }
  static const nlohmann::json& prompts() { return (*reference_)["prompts"]; }

  // Compares every reference prompt; returns how many matched exactly.
  static int expect_all(const ClipTokenizer& tok, const char* field) {
    int passed = 0;
    for (size_t i = 0; i < prompts().size(); ++i) {
      const auto& entry = prompts()[i];
      const std::string text = entry["text"].get<std::string>();
      const auto want = entry[field].get<std::vector<int64_t>>();
      const auto got = tok.encode(text);
      EXPECT_EQ(got, want) << field << " prompt " << i << ": " << entry["text"].dump();
      passed += got == want;
    }
    return passed;
  }

  static nlohmann::json* reference_;
  static ClipTokenizer* sd1_;
  static ClipTokenizer* sd2_;
};

nlohmann::json* ClipReference::reference_ = nullptr;
ClipTokenizer* ClipReference::sd1_ = nullptr;
ClipTokenizer* ClipReference::sd2_ = nullptr;

TEST_F(ClipReference, HasEnoughPrompts) { EXPECT_GE(prompts().size(), 60u); }

TEST_F(ClipReference, FolderSpecialTokens) {
  EXPECT_EQ(sd1_->bos_id(), 49406);
  EXPECT_EQ(sd1_->eos_id(), 49407);
  EXPECT_EQ(sd1_->pad_id(), 49407);
  EXPECT_EQ(sd2_->pad_id(), 0);  // "!"
  EXPECT_EQ(sd1_->max_length(), 77);
  EXPECT_EQ(sd2_->max_length(), 77);
}

TEST_F(ClipReference, Sd1IdsMatchTransformers) {
  const int passed = expect_all(*sd1_, "ids_sd1");
  std::printf("sd1: %d/%zu prompts identical\n", passed, prompts().size());
}

TEST_F(ClipReference, Sd2IdsMatchTransformers) {
  const int passed = expect_all(*sd2_, "ids_sd2");
  std::printf("sd2: %d/%zu prompts identical\n", passed, prompts().size());
}

TEST_F(ClipReference, ExplicitOptionsMatchFolder) {
  const std::string vocab = data_path("clip-vocab/vocab.json");
  const std::string merges = data_path("clip-vocab/merges.txt");
  ClipTokenizerOptions sd1;
  sd1.fix_text = false;
  expect_all(ClipTokenizer(vocab, merges, sd1), "ids_sd1");
  ClipTokenizerOptions sd2 = sd1;
  sd2.pad_token = "!";
  expect_all(ClipTokenizer(vocab, merges, sd2), "ids_sd2");
}

TEST_F(ClipReference, ConcurrentEncodeMatches) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (const auto& entry : prompts())
          wrong[t] += sd1_->encode(entry["text"].get<std::string>()) != entry["ids_sd1"].get<std::vector<int64_t>>();
    });
  }
  for (auto& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
}

TEST_F(ClipReference, DecodeRoundTrip) {
  // Expected strings are transformers' decode(ids, skip_special_tokens=True).
  EXPECT_EQ(sd1_->decode(sd1_->encode("a photograph of an astronaut riding a horse")),
            "a photograph of an astronaut riding a horse");
  EXPECT_EQ(sd1_->decode(sd1_->encode("café naïve ærøskøbing, 1920s!")), "café naïve ærøskøbing , 1 9 2 0 s !");
  EXPECT_EQ(sd1_->decode(sd1_->encode("")), "");
}

TEST(ClipCharClass, EveryCodePointMatchesTransformers) {
  const auto table = load_json(data_path("tokenizer/char_classes.json"));
  const auto& runs = table["runs"];
  ASSERT_GT(runs.size(), 1000u);
  int mismatches = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto first = runs[r][0].get<uint32_t>();
    const auto last = r + 1 < runs.size() ? runs[r + 1][0].get<uint32_t>() : 0x110000u;
    const char want = runs[r][1].get<std::string>().at(0);
    for (uint32_t cp = first; cp < last; ++cp) {
      const char got = static_cast<char>(clip_char_class(cp));
      if (got != want && ++mismatches <= 20)
        ADD_FAILURE() << "U+" << std::hex << std::uppercase << cp << ": got " << got << ", transformers " << want;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace farm::text
