// The ftfy mode (the default) against transformers' slow CLIPTokenizer with
// ftfy installed, and fix_text against ftfy.fix_text itself, on every prompt
// of tests/data/tokenizer/clip_ids_ftfy.json (the 74 of clip_ids.json plus
// CJK, emoji, fullwidth, ligature, quote, HTML entity, mojibake, accent and
// control-character prompts); the fallback mode on the same prompts; the
// ftfy mode's per-code-point regex classes (regex_classes.json).
#include <gtest/gtest.h>
#include <unicode/uchar.h>
#include <unicode/uversion.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "farm/text/clip_pretokenizer.h"
#include "farm/text/clip_tokenizer.h"
#include "farm/text/text_fix.h"
#include "tokenizer_test_files.h"

namespace farm::text {
namespace {

using testing::data_path;
using testing::load_json;
using testing::make_tokenizer_folder;
using testing::ScratchDir;

std::string escaped(const std::string& s) { return nlohmann::json(s).dump(); }

class FtfyReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new nlohmann::json(load_json(data_path("tokenizer/clip_ids_ftfy.json")));
    for (const char* variant : {"sd1", "sd2"}) {
      ScratchDir dir(std::string("tok_ftfy_") + variant);
      make_tokenizer_folder(dir, variant);
      ClipTokenizerOptions fallback;
      fallback.fix_text = false;
      const bool sd1 = std::string(variant) == "sd1";
      (sd1 ? fixed1_ : fixed2_) = new ClipTokenizer(ClipTokenizer::from_folder(dir.path().string()));
      (sd1 ? plain1_ : plain2_) = new ClipTokenizer(ClipTokenizer::from_folder(dir.path().string(), fallback));
    }
  }
  static void TearDownTestSuite() {
    delete reference_;
    for (ClipTokenizer* t : {fixed1_, fixed2_, plain1_, plain2_}) delete t;
  }
  static const nlohmann::json& prompts() { return (*reference_)["prompts"]; }

  // Every prompt; prints how many matched, of the 74 and of the rest.
  static void expect_all(const ClipTokenizer& tok, const char* field) {
    const auto first_new = (*reference_)["meta"]["first_ftfy_only_prompt"].get<size_t>();
    int passed_old = 0, passed_new = 0;
    for (size_t i = 0; i < prompts().size(); ++i) {
      const auto& entry = prompts()[i];
      const auto want = entry[field].get<std::vector<int64_t>>();
      const auto got = tok.encode(entry["text"].get<std::string>());
      EXPECT_EQ(got, want) << field << " prompt " << i << ": " << entry["text"].dump();
      (i < first_new ? passed_old : passed_new) += got == want;
    }
    std::printf("%s: %d/%zu + %d/%zu prompts identical\n", field, passed_old, first_new, passed_new,
                prompts().size() - first_new);
  }

  static nlohmann::json* reference_;
  static ClipTokenizer* fixed1_;
  static ClipTokenizer* fixed2_;
  static ClipTokenizer* plain1_;
  static ClipTokenizer* plain2_;
};

nlohmann::json* FtfyReference::reference_ = nullptr;
ClipTokenizer* FtfyReference::fixed1_ = nullptr;
ClipTokenizer* FtfyReference::fixed2_ = nullptr;
ClipTokenizer* FtfyReference::plain1_ = nullptr;
ClipTokenizer* FtfyReference::plain2_ = nullptr;

TEST_F(FtfyReference, HasEnoughPrompts) {
  EXPECT_GE((*reference_)["meta"]["first_ftfy_only_prompt"].get<size_t>(), 74u);
  EXPECT_GE(prompts().size(), 74u + 40u);
}

TEST_F(FtfyReference, FixTextMatchesFtfy) {
  int passed = 0;
  for (size_t i = 0; i < prompts().size(); ++i) {
    const auto& entry = prompts()[i];
    const std::string want = entry["fix_text"].get<std::string>();
    const std::string got = fix_text(entry["text"].get<std::string>());
    EXPECT_EQ(got, want) << "prompt " << i << ": " << entry["text"].dump() << " -> " << escaped(got);
    passed += got == want;
  }
  std::printf("fix_text: %d/%zu prompts identical\n", passed, prompts().size());
}

TEST_F(FtfyReference, Sd1IdsMatchTransformersWithFtfy) { expect_all(*fixed1_, "ids_sd1"); }
TEST_F(FtfyReference, Sd2IdsMatchTransformersWithFtfy) { expect_all(*fixed2_, "ids_sd2"); }
TEST_F(FtfyReference, Sd1FallbackMatchesTransformersWithoutFtfy) { expect_all(*plain1_, "nofix_sd1"); }
TEST_F(FtfyReference, Sd2FallbackMatchesTransformersWithoutFtfy) { expect_all(*plain2_, "nofix_sd2"); }

TEST_F(FtfyReference, ModesDifferWhereTransformersDoes) {
  // The default is the ftfy mode, and the two modes are really different
  // code paths: CJK stays in runs with ftfy only.
  EXPECT_TRUE(ClipTokenizerOptions{}.fix_text);
  EXPECT_TRUE(fixed1_->options().fix_text);
  EXPECT_FALSE(plain1_->options().fix_text);
  const std::string cat = "一只猫";
  EXPECT_NE(fixed1_->token_ids(cat), plain1_->token_ids(cat));
  EXPECT_EQ(fixed1_->decode(fixed1_->token_ids(cat)), cat);  // one word
  EXPECT_EQ(plain1_->decode(plain1_->token_ids(cat)), "一 只 猫");
}

TEST_F(FtfyReference, ConcurrentEncodeMatches) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (const auto& entry : prompts())
        wrong[t] += fixed1_->encode(entry["text"].get<std::string>()) != entry["ids_sd1"].get<std::vector<int64_t>>();
    });
  }
  for (auto& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
}

TEST(TextFix, MojibakeMatchesFtfy) {
  // UTF-8 read in each of ftfy's codecs, twice-encoded, A0 as space,
  // embedded in clean text (fix_text_cases.json).
  const auto cases = load_json(data_path("tokenizer/fix_text_cases.json"))["cases"];
  ASSERT_GT(cases.size(), 500u);
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i][0].get<std::string>();
    const std::string want = cases[i][1].get<std::string>();
    const std::string got = fix_text(text);
    EXPECT_EQ(got, want) << "case " << i << ": " << escaped(text) << " -> " << escaped(got);
    passed += got == want;
  }
  std::printf("fix_text mojibake cases: %d/%zu identical\n", passed, cases.size());
}

TEST(TextFix, HandWorkedCases) {
  // From ftfy's own docstrings.
  EXPECT_EQ(fix_text("\xc3\xa2\xc5\x93\xe2\x80\x9d No problems"), "\xe2\x9c\x94 No problems");  // âœ” -> ✔
  EXPECT_EQ(fix_text("Broken text&hellip; it&#x2019;s \xef\xac\x82ubberi\xef\xac\x81" "c!"),
            "Broken text\xe2\x80\xa6 it's flubberific!");
  EXPECT_EQ(fix_text("\xef\xbc\xac\xef\xbc\xaf\xef\xbc\xb5\xef\xbc\xa4\xe3\x80\x80\xef\xbc\xae\xef\xbc\xaf"),
            "LOUD NO");  // ＬＯＵＤ　ＮＯ
  EXPECT_EQ(fix_text("sch\xc3\x83\xc2\xb6n"), "sch\xc3\xb6n");  // schÃ¶n -> schön
  EXPECT_EQ(fix_text("P&EACUTE;REZ"), "P\xc3\x89REZ");
  EXPECT_EQ(fix_text("&ntilde; &Ntilde; &NTILDE; &nTILDE;"), "\xc3\xb1 \xc3\x91 \xc3\x91 &nTILDE;");
  EXPECT_EQ(fix_text("\x1b[36;44mI'm blue\x1b[0m"), "I'm blue");
  EXPECT_EQ(fix_text(""), "");
  EXPECT_EQ(fix_text("plain ascii stays"), "plain ascii stays");
}

TEST(ClipRegexCharClass, EveryCodePointMatchesTransformers) {
  const auto table = load_json(data_path("tokenizer/regex_classes.json"));
  const auto& runs = table["runs"];
  ASSERT_GT(runs.size(), 1000u);
  int mismatches = 0, newer_unicode = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto first = runs[r][0].get<uint32_t>();
    const auto last = r + 1 < runs.size() ? runs[r + 1][0].get<uint32_t>() : 0x110000u;
    const char want = runs[r][1].get<std::string>().at(0);
    for (uint32_t cp = first; cp < last; ++cp) {
      const char got = static_cast<char>(clip_regex_char_class(cp));
      if (got == want) continue;
      // The regex module has newer Unicode data than this ICU: a code point
      // ICU does not know yet is 'other' here. Count those, fail on the rest.
      if (u_charType(static_cast<UChar32>(cp)) == U_UNASSIGNED) {
        ++newer_unicode;
        continue;
      }
      if (++mismatches <= 20)
        ADD_FAILURE() << "U+" << std::hex << std::uppercase << cp << ": got " << got << ", transformers " << want;
    }
  }
  EXPECT_EQ(mismatches, 0);
  std::printf("code points assigned after this ICU's Unicode %s: %d (read as other)\n", U_UNICODE_VERSION,
              newer_unicode);
}

}  // namespace
}  // namespace farm::text
