#include "farm/text/clip_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "farm/core/error.h"
#include "farm/text/clip_pretokenizer.h"

namespace farm::text {
namespace {

constexpr int kMaxSupportedLength = 4096;

// Reads the special tokens of one transformers config file into `options`;
// a token is a string or an AddedToken object {"content": ...}.
void read_special_tokens(const std::filesystem::path& path, ClipTokenizerOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;  // optional file
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // also out_of_range: a number too large to hold
    fail("tokenizer config ", path.string(), ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail("tokenizer config ", path.string(), ": expected a JSON object");
  const std::pair<const char*, std::string*> fields[] = {{"bos_token", &options.bos_token},
                                                         {"eos_token", &options.eos_token},
                                                         {"unk_token", &options.unk_token},
                                                         {"pad_token", &options.pad_token}};
  for (const auto& [key, target] : fields) {
    if (!j.contains(key) || j[key].is_null()) continue;
    const auto& v = j[key];
    if (v.is_string()) {
      *target = v.get<std::string>();
    } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {
      *target = v["content"].get<std::string>();
    } else {
      fail("tokenizer config ", path.string(), ": field '", key,
           "' expected a string or an object with a string 'content'");
    }
  }
  if (j.contains("model_max_length")) {
    const auto& v = j["model_max_length"];
    if (!v.is_number_integer() || v.get<int64_t>() < 2 || v.get<int64_t>() > kMaxSupportedLength)
      fail("tokenizer config ", path.string(), ": field 'model_max_length' is ", v.dump(),
           ", expected an integer in [2, ", kMaxSupportedLength, "]");
    options.max_length = static_cast<int>(v.get<int64_t>());
  }
}

}  // namespace

ClipTokenizer::ClipTokenizer(const std::string& vocab_path, const std::string& merges_path,
                             ClipTokenizerOptions options)
    : ClipTokenizer(std::make_unique<ClipBpe>(vocab_path, merges_path), "vocab file " + vocab_path,
                    std::move(options)) {}

ClipTokenizer ClipTokenizer::from_tokenizer_json(const std::string& path, ClipTokenizerOptions options) {
  return ClipTokenizer(ClipBpe::from_tokenizer_json(path), "tokenizer file " + path, std::move(options));
}

ClipTokenizer::ClipTokenizer(std::unique_ptr<ClipBpe> bpe, const std::string& source, ClipTokenizerOptions options)
    : bpe_(std::move(bpe)), options_(std::move(options)) {
  if (options_.max_length < 2 || options_.max_length > kMaxSupportedLength)
    fail("CLIP tokenizer max_length ", options_.max_length, ": expected 2..", kMaxSupportedLength);
  const std::pair<const std::string*, int64_t*> specials[] = {{&options_.bos_token, &bos_id_},
                                                              {&options_.eos_token, &eos_id_},
                                                              {&options_.unk_token, &unk_id_},
                                                              {&options_.pad_token, &pad_id_}};
  for (const auto& [text, id] : specials) {
    *id = bpe_->find(*text);
    if (text->empty() || *id < 0)
      fail(source, ": special token '", *text, "' is not in it");
    added_.add(*text, *id);
  }
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir, ClipTokenizerOptions defaults) {
  const std::filesystem::path root(dir);
  if (!std::filesystem::is_directory(root))
    fail("tokenizer folder ", dir, ": not a directory (expected vocab.json and merges.txt, or tokenizer.json)");
  ClipTokenizerOptions options = std::move(defaults);
  // transformers applies tokenizer_config.json, then special_tokens_map.json over it.
  read_special_tokens(root / "tokenizer_config.json", options);
  read_special_tokens(root / "special_tokens_map.json", options);
  // transformers 5 saves tokenizer.json alone; older folders have both.
  if (!std::filesystem::exists(root / "vocab.json") && std::filesystem::exists(root / "tokenizer.json"))
    return from_tokenizer_json((root / "tokenizer.json").string(), std::move(options));
  return ClipTokenizer((root / "vocab.json").string(), (root / "merges.txt").string(), std::move(options));
}

std::vector<int64_t> ClipTokenizer::token_ids(std::string_view utf8, bool fix_text) const {
  std::vector<int64_t> ids;
  auto encode_chunk = [&](std::string_view chunk) {
    for (const std::string& word : clip_pretokenize(chunk, fix_text)) bpe_->encode_word(word, ids);
  };
  // Added tokens are cut out of the raw text first (leftmost, then longest),
  // and the text between them is tokenized piece by piece.
  added_.split(utf8, encode_chunk, [&](int64_t id) { ids.push_back(id); });
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode(std::string_view utf8, bool fix_text) const {
  std::vector<int64_t> ids = token_ids(utf8, fix_text);
  const auto keep = static_cast<size_t>(options_.max_length - 2);
  if (ids.size() > keep) ids.resize(keep);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(options_.max_length));
  out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  out.push_back(eos_id_);
  out.resize(static_cast<size_t>(options_.max_length), pad_id_);
  return out;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id == bos_id_ || id == eos_id_ || id == unk_id_ || id == pad_id_) continue;
    out += bpe_->token_bytes(id);
  }
  constexpr const char* kSpace = " \t\n\v\f\r";
  const size_t first = out.find_first_not_of(kSpace);
  if (first == std::string::npos) return {};
  return out.substr(first, out.find_last_not_of(kSpace) - first + 1);
}

}  // namespace farm::text
