// CLIP's byte-level BPE over one word: vocab.json + merges.txt as Hugging Face
// ships them (tests/data/clip-vocab). Mirrors CLIPTokenizer.bpe in
// transformers: the word's UTF-8 bytes become GPT-2's printable byte
// characters, the last one gets '</w>', then the lowest-ranked adjacent pair is
// merged everywhere until no pair has a rank.
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

class ClipBpe {
 public:
  // Throws farm::Error naming the file (and line) when a file is missing or
  // malformed, or a merge uses a symbol vocab.json lacks.
  ClipBpe(const std::string& vocab_path, const std::string& merges_path);
  // From the "model" of a tokenizers file (tokenizer.json, as transformers 5
  // saves a CLIP tokenizer: a BPE with end_of_word_suffix '</w>'); all of its
  // merges, "a b" strings or ["a", "b"] pairs. Errors name the file.
  static std::unique_ptr<ClipBpe> from_tokenizer_json(const std::string& path);

  // Appends the ids of `word` (one pre-tokenizer match, UTF-8). Thread-safe;
  // results are cached per word.
  void encode_word(std::string_view word, std::vector<int64_t>& out) const;

  // Id of a vocab.json entry; -1 when absent.
  int64_t find(std::string_view token) const;
  const std::string& token(int64_t id) const;  // "" for an unknown id
  size_t size() const { return vocab_.size(); }

  // The bytes a vocab entry stands for: byte characters decoded, '</w>' -> ' '.
  std::string token_bytes(int64_t id) const;

 private:
  std::vector<int64_t> bpe(std::string_view word) const;
  ClipBpe() = default;
  // The vocabulary ({token: id} as parsed JSON, opaque here) and the byte tokens.
  void set_vocab(const void* vocab_json, const std::string& source);
  // One merge of rank `rank`; `where` names the file (and line) for errors.
  void add_merge(const std::string& left, const std::string& right, int32_t rank, const std::string& where,
                 const std::string& vocab_source);

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> tokens_;              // id -> token
  BpeMerges merges_;
  int32_t byte_id_[256] = {};                    // byte character
  int32_t byte_end_id_[256] = {};                // byte character + '</w>'

  WordCache cache_;
};

}  // namespace farm::text
