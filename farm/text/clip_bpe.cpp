#include "farm/text/clip_bpe.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <fstream>
#include <sstream>

#include "farm/core/error.h"

namespace farm::text {
namespace {

// OpenAI cut its merge list at 49152 - 256 - 2 entries and transformers reads
// no further (`[1 : 49152 - 256 - 2 + 1]`), whatever the file holds.
constexpr int kMaxMerges = 49152 - 256 - 2;
constexpr std::string_view kEndOfWord = "</w>";

std::ifstream open_or_fail(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(what, " ", path, ": cannot open (expected a CLIP tokenizer file)");
  return in;
}

std::vector<std::string> split_ascii_space(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream s(line);
  for (std::string f; s >> f;) fields.push_back(f);
  return fields;
}

}  // namespace

ClipBpe::ClipBpe(const std::string& vocab_path, const std::string& merges_path) {
  std::ifstream vocab_in = open_or_fail(vocab_path, "vocab file");
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_in);
  } catch (const nlohmann::json::exception& e) {  // also out_of_range: a number too large to hold
    fail("vocab file ", vocab_path, ": not valid JSON (", e.what(), ")");
  }
  set_vocab(&vocab, "vocab file " + vocab_path);

  std::ifstream merges_in = open_or_fail(merges_path, "merges file");
  std::string line;
  if (!std::getline(merges_in, line) || line.rfind("#version", 0) != 0)
    fail("merges file ", merges_path, ":1: expected the header '#version: 0.2'");
  // Python reads the stripped text's lines 1..48894: a blank line takes a rank
  // of its own but merges nothing.
  for (int rank = 0, line_no = 2; rank < kMaxMerges && std::getline(merges_in, line); ++rank, ++line_no) {
    const auto fields = split_ascii_space(line);
    if (fields.empty()) continue;
    const std::string where = cat("merges file ", merges_path, ":", line_no, ": '", line, "'");
    if (fields.size() != 2) fail(where, ": expected two symbols 'left right'");
    add_merge(fields[0], fields[1], rank, where, "vocab file " + vocab_path);
  }
  if (merges_in.bad()) fail("merges file ", merges_path, ": read error");
}

std::unique_ptr<ClipBpe> ClipBpe::from_tokenizer_json(const std::string& path) {
  std::ifstream in = open_or_fail(path, "tokenizer file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer file ", path, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    fail("tokenizer file ", path, ": expected a JSON object with a 'model' object (a tokenizers file)");
  const auto& model = j["model"];
  const std::string type = model.value("type", std::string());
  const auto suffix = model.find("end_of_word_suffix");
  if (type != "BPE" || suffix == model.end() || !suffix->is_string() || suffix->get<std::string>() != kEndOfWord)
    fail("tokenizer file ", path, ": model is '", type, "' with end_of_word_suffix ",
         suffix == model.end() ? std::string("absent") : suffix->dump(),
         "; expected a CLIP byte-level BPE ('BPE', \"</w>\")");
  if (!model.contains("vocab") || !model.contains("merges") || !model["merges"].is_array())
    fail("tokenizer file ", path, ": model lacks 'vocab' or a 'merges' list");
  std::unique_ptr<ClipBpe> bpe(new ClipBpe);
  bpe->set_vocab(&model["vocab"], "tokenizer file " + path + " (model.vocab)");
  int32_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string left, right;
    if (m.is_string()) {
      const auto fields = split_ascii_space(m.get<std::string>());
      if (fields.size() == 2) left = fields[0], right = fields[1];
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    }
    const std::string where = cat("tokenizer file ", path, ": model.merges[", rank, "] ", m.dump());
    if (left.empty() || right.empty()) fail(where, ": expected \"left right\" or [\"left\", \"right\"]");
    bpe->add_merge(left, right, rank++, where, "its model.vocab");
  }
  return bpe;
}

void ClipBpe::set_vocab(const void* vocab_json, const std::string& source) {
  const auto& vocab = *static_cast<const nlohmann::json*>(vocab_json);
  if (!vocab.is_object() || vocab.empty()) fail(source, ": expected a JSON object {token: id, ...}");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX)
      fail(source, ": token '", token, "' has id ", id.dump(), ", expected an integer in [0, 2^31)");
    const auto value = id.get<int64_t>();
    vocab_.emplace(token, value);
    if (tokens_.size() <= static_cast<size_t>(value)) tokens_.resize(static_cast<size_t>(value) + 1);
    tokens_[static_cast<size_t>(value)] = token;
  }

  const auto& chars = byte_level_chars();
  for (int b = 0; b < 256; ++b) {
    const std::string& byte_char = chars[static_cast<size_t>(b)];
    const int64_t plain = find(byte_char);
    const int64_t end = find(byte_char + std::string(kEndOfWord));
    if (plain < 0 || end < 0)
      fail(source, ": lacks the byte token '", byte_char, "' or '", byte_char, kEndOfWord, "' (byte ", b,
           "); expected a CLIP byte-level vocabulary");
    byte_id_[b] = static_cast<int32_t>(plain);
    byte_end_id_[b] = static_cast<int32_t>(end);
  }
  for (const char* special : {"<|startoftext|>", "<|endoftext|>"})
    if (find(special) < 0) fail(source, ": lacks '", special, "'");
}

void ClipBpe::add_merge(const std::string& left_text, const std::string& right_text, int32_t rank,
                        const std::string& where, const std::string& vocab_source) {
  const int64_t left = find(left_text), right = find(right_text), merged = find(left_text + right_text);
  if (left < 0 || right < 0 || merged < 0)
    fail(where, ": '", left < 0 ? left_text : right < 0 ? right_text : left_text + right_text, "' is not in ",
         vocab_source);
  merges_.add(static_cast<int32_t>(left), static_cast<int32_t>(right), rank, static_cast<int32_t>(merged));
}

int64_t ClipBpe::find(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& ClipBpe::token(int64_t id) const {
  static const std::string kNone;
  return id >= 0 && static_cast<size_t>(id) < tokens_.size() ? tokens_[static_cast<size_t>(id)] : kNone;
}

std::string ClipBpe::token_bytes(int64_t id) const {
  std::string_view t = token(id);
  const bool word_end = t.size() >= kEndOfWord.size() && t.substr(t.size() - kEndOfWord.size()) == kEndOfWord;
  if (word_end) t.remove_suffix(kEndOfWord.size());
  std::string out = byte_level_bytes(t);
  if (word_end) out += ' ';
  return out;
}

std::vector<int64_t> ClipBpe::bpe(std::string_view word) const {
  // The cache transformers seeds: these two words skip BPE.
  if (word == "<|startoftext|>" || word == "<|endoftext|>") return {find(word)};
  std::vector<int32_t> symbols(word.size());
  for (size_t k = 0; k < word.size(); ++k) {
    const auto b = static_cast<unsigned char>(word[k]);
    symbols[k] = k + 1 == word.size() ? byte_end_id_[b] : byte_id_[b];
  }
  merges_.apply(symbols);
  return std::vector<int64_t>(symbols.begin(), symbols.end());
}

void ClipBpe::encode_word(std::string_view word, std::vector<int64_t>& out) const {
  cache_.encode(word, out, [&](std::string_view w) { return bpe(w); });
}

}  // namespace farm::text
