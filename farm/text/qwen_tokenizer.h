// The Qwen2 byte-level BPE tokenizer (Qwen3's, Z-Image's text encoder's):
// prompt -> token ids, identical to transformers' Qwen2Tokenizer (the
// tokenizers library) on a folder's tokenizer.json.
//
// Pipeline, as the tokenizers library runs it:
//   1. added tokens with normalized: false are cut out of the raw text
//      (leftmost, then longest);
//   2. the pieces between are NFC-normalized, and added tokens with
//      normalized: true are cut out of them;
//   3. what is left is pre-tokenized (qwen_pretokenizer.h), each word's bytes
//      become GPT-2's byte characters, and BPE merges them by rank.
//
// encode_prompt() is what diffusers' ZImagePipeline feeds its text encoder:
// the prompt inside Qwen3's chat template (one user turn, generation prompt,
// thinking enabled: "<|im_start|>user\n" + prompt + "<|im_end|>\n<|im_start|>assistant\n"),
// tokenized, cut to max_length ids *after* templating (a long prompt loses
// the template's tail, as it does there), real tokens only (no padding).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "farm/text/byte_level.h"

namespace farm::text {

class QwenTokenizer {
 public:
  // A tokenizers file (tokenizer.json): a byte-level BPE with Qwen2's
  // normalizer (NFC) and pre-tokenizer. Errors name the file and the field.
  static QwenTokenizer from_tokenizer_json(const std::string& path, int max_length = 512);
  // A diffusers `tokenizer/` folder: its tokenizer.json.
  static QwenTokenizer from_folder(const std::string& dir, int max_length = 512);

  // Qwen3's chat template around one user prompt.
  static std::string chat_text(std::string_view prompt);

  // The ids of the templated prompt, at most max_length of them.
  std::vector<int64_t> encode_prompt(std::string_view prompt) const;
  // The ids of `utf8` itself: no template, no truncation.
  std::vector<int64_t> token_ids(std::string_view utf8) const;

  // Id of a vocabulary or added token; -1 when absent.
  int64_t find(std::string_view token) const;
  size_t vocab_size() const { return tokens_.size(); }
  int max_length() const { return max_length_; }

  QwenTokenizer(QwenTokenizer&& other) noexcept;

 private:
  QwenTokenizer() = default;
  void encode_word(std::string_view word, std::vector<int64_t>& out) const;
  void encode_text(std::string_view normalized, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int64_t> vocab_;  // BPE vocabulary and added tokens
  std::vector<std::string> tokens_;                 // id -> token
  BpeMerges merges_;
  int32_t byte_id_[256] = {};
  bool ignore_merges_ = false;  // a word that is a vocabulary entry skips BPE
  AddedTokenSplitter raw_added_;         // normalized: false
  AddedTokenSplitter normalized_added_;  // normalized: true
  int max_length_ = 512;

  WordCache cache_;
};

}  // namespace farm::text
