// What every GPT-2-style byte-level BPE shares (CLIP's, Qwen2's): the
// printable character each byte stands for in the vocabulary, the merge
// table, and the merge loop.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace farm::text {

// GPT-2's bytes_to_unicode as UTF-8: printable Latin-1 bytes stand for
// themselves, the other 68 bytes take U+0100 onwards in byte order.
const std::array<std::string, 256>& byte_level_chars();

// The bytes a vocabulary token stands for: byte characters decoded, anything
// else (an added token's text) kept as is.
std::string byte_level_bytes(std::string_view token);

// Merges by rank. apply() repeatedly merges the lowest-ranked adjacent pair,
// every non-overlapping occurrence left to right, until no pair has a rank:
// transformers' slow bpe() and the tokenizers library's queue agree on this.
class BpeMerges {
 public:
  // A repeated pair keeps its last rank, as dict(zip(merges, ranks)) does.
  void add(int32_t left, int32_t right, int32_t rank, int32_t merged) { merges_[key(left, right)] = {rank, merged}; }
  void apply(std::vector<int32_t>& symbols) const;
  size_t size() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::unordered_map<uint64_t, Merge> merges_;
};

// A word's ids, computed once: BPE is the slow part of tokenizing and prompt
// lists repeat their words. Thread-safe; bounded (cleared when full) over
// huge jobs.
class WordCache {
 public:
  // Appends the ids of `word` to `out`, computing them with ids_of(word) on a miss.
  template <typename IdsOf>
  void encode(std::string_view word, std::vector<int64_t>& out, IdsOf&& ids_of) const {
    std::string key(word);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int64_t> ids = ids_of(word);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.size() >= kMaxWords) cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
  }

 private:
  static constexpr size_t kMaxWords = size_t{1} << 18;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

// Added tokens typed literally, cut out of text before anything else: the
// leftmost match, the longest at that position (the tokenizers library's
// LeftmostLongest). split() calls piece(text between matches) and token(id)
// in order; empty pieces are skipped.
class AddedTokenSplitter {
 public:
  void add(std::string text, int64_t id);
  bool empty() const { return tokens_.empty(); }
  template <typename Piece, typename Token>
  void split(std::string_view text, Piece&& piece, Token&& token) const {
    size_t start = 0;
    for (size_t at = 0; at < text.size();) {
      const Entry* hit = match(text, at);
      if (hit == nullptr) {
        ++at;
        continue;
      }
      if (at > start) piece(text.substr(start, at - start));
      token(hit->id);
      at += hit->text.size();
      start = at;
    }
    if (start < text.size()) piece(text.substr(start));
  }

 private:
  struct Entry {
    std::string text;
    int64_t id;
  };
  const Entry* match(std::string_view text, size_t at) const;
  std::vector<Entry> tokens_;  // longest first
};

}  // namespace farm::text
