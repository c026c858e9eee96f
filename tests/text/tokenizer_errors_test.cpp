// Bad tokenizer files give farm::Error naming the file (and line).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/text/clip_tokenizer.h"
#include "tokenizer_test_files.h"

namespace farm::text {
namespace {

using testing::data_path;
using testing::make_tokenizer_folder;
using testing::ScratchDir;

const std::string kVocab = data_path("clip-vocab/vocab.json");
const std::string kMerges = data_path("clip-vocab/merges.txt");

void expect_error(const std::function<void()>& make, const std::vector<std::string>& parts) {
  try {
    make();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const farm::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizerErrors, MissingVocab) {
  ScratchDir dir("tok_err");
  expect_error([&] { ClipTokenizer(dir.file("vocab.json"), kMerges); }, {dir.file("vocab.json"), "cannot open"});
}

TEST(ClipTokenizerErrors, MissingMerges) {
  ScratchDir dir("tok_err");
  expect_error([&] { ClipTokenizer(kVocab, dir.file("merges.txt")); }, {dir.file("merges.txt"), "cannot open"});
}

TEST(ClipTokenizerErrors, TruncatedVocabJson) {
  ScratchDir dir("tok_err");
  dir.write("vocab.json", "{\"!\": 0,\n \"a\": ");
  expect_error([&] { ClipTokenizer(dir.file("vocab.json"), kMerges); },
               {dir.file("vocab.json"), "not valid JSON", "line 2"});
}

TEST(ClipTokenizerErrors, VocabNotAnObject) {
  ScratchDir dir("tok_err");
  dir.write("vocab.json", "[1, 2]");
  expect_error([&] { ClipTokenizer(dir.file("vocab.json"), kMerges); }, {dir.file("vocab.json"), "object"});
}

TEST(ClipTokenizerErrors, VocabIdNotAnInteger) {
  ScratchDir dir("tok_err");
  dir.write("vocab.json", "{\"!\": \"zero\"}");
  expect_error([&] { ClipTokenizer(dir.file("vocab.json"), kMerges); }, {dir.file("vocab.json"), "'!'"});
}

TEST(ClipTokenizerErrors, VocabWithoutByteTokens) {
  ScratchDir dir("tok_err");
  dir.write("vocab.json", "{\"!\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
  expect_error([&] { ClipTokenizer(dir.file("vocab.json"), kMerges); }, {dir.file("vocab.json"), "byte token"});
}

TEST(ClipTokenizerErrors, MergesWithoutHeader) {
  ScratchDir dir("tok_err");
  dir.write("merges.txt", "i n\nt h\n");
  expect_error([&] { ClipTokenizer(kVocab, dir.file("merges.txt")); }, {dir.file("merges.txt") + ":1:", "#version"});
}

TEST(ClipTokenizerErrors, MergesLineWithThreeSymbols) {
  ScratchDir dir("tok_err");
  dir.write("merges.txt", "#version: 0.2\ni n\nt h e\n");
  expect_error([&] { ClipTokenizer(kVocab, dir.file("merges.txt")); }, {dir.file("merges.txt") + ":3:", "'t h e'"});
}

TEST(ClipTokenizerErrors, MergesSymbolNotInVocab) {
  ScratchDir dir("tok_err");
  dir.write("merges.txt", "#version: 0.2\ni n\nt h\nqq!zz e\n");
  expect_error([&] { ClipTokenizer(kVocab, dir.file("merges.txt")); },
               {dir.file("merges.txt") + ":4:", "'qq!zz'", kVocab});
}

TEST(ClipTokenizerErrors, PadTokenNotInVocab) {
  ClipTokenizerOptions options;
  options.pad_token = "<|pad|>";
  expect_error([&] { ClipTokenizer(kVocab, kMerges, options); }, {kVocab, "'<|pad|>'"});
}

TEST(ClipTokenizerErrors, FolderMissing) {
  ScratchDir dir("tok_err");
  expect_error([&] { ClipTokenizer::from_folder(dir.file("nope")); }, {dir.file("nope"), "not a directory"});
}

TEST(ClipTokenizerErrors, FolderWithCorruptSpecialTokensMap) {
  ScratchDir dir("tok_err");
  make_tokenizer_folder(dir, "sd2");
  dir.write("special_tokens_map.json", "{\"pad_token\": }");
  expect_error([&] { ClipTokenizer::from_folder(dir.path().string()); },
               {dir.file("special_tokens_map.json"), "not valid JSON"});
}

TEST(ClipTokenizerErrors, FolderWithBadPadTokenType) {
  ScratchDir dir("tok_err");
  make_tokenizer_folder(dir, "sd2");
  dir.write("special_tokens_map.json", "{\"pad_token\": 7}");
  expect_error([&] { ClipTokenizer::from_folder(dir.path().string()); },
               {dir.file("special_tokens_map.json"), "'pad_token'"});
}

TEST(ClipTokenizerErrors, FolderWithoutMerges) {
  ScratchDir dir("tok_err");
  make_tokenizer_folder(dir, "sd1");
  std::filesystem::remove(dir.path() / "merges.txt");
  expect_error([&] { ClipTokenizer::from_folder(dir.path().string()); }, {dir.file("merges.txt")});
}

}  // namespace
}  // namespace farm::text
