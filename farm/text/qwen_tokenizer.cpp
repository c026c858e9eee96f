#include "farm/text/qwen_tokenizer.h"

#include <nlohmann/json.hpp>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <climits>
#include <filesystem>
#include <fstream>

#include "farm/core/error.h"
#include "farm/text/qwen_pretokenizer.h"

namespace farm::text {
namespace {

constexpr int kMaxSupportedLength = 1 << 16;
constexpr std::string_view kQwenRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string nfc(std::string_view utf8) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC data: ", u_errorName(status));
  const auto text = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  if (normalizer->isNormalized(text, status) && U_SUCCESS(status)) return std::string(utf8);
  status = U_ZERO_ERROR;
  const icu::UnicodeString normal = normalizer->normalize(text, status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC: ", u_errorName(status));
  std::string out;
  normal.toUTF8String(out);
  return out;
}

// The pre-tokenizer must be Qwen2's: Split(regex, isolated) then ByteLevel
// without its own regex and without a prefix space.
void check_pre_tokenizer(const nlohmann::json& pre, const std::string& where) {
  const auto expected = cat("expected Qwen2's Sequence[Split(", kQwenRegex,
                            ", Isolated), ByteLevel(add_prefix_space false, use_regex false)]");
  if (!pre.is_object() || pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers") ||
      !pre["pretokenizers"].is_array() || pre["pretokenizers"].size() != 2)
    fail(where, ": field 'pre_tokenizer' is ", pre.dump().substr(0, 200), "; ", expected);
  const auto& split = pre["pretokenizers"][0];
  const auto& bytes = pre["pretokenizers"][1];
  const bool split_ok = split.is_object() && split.value("type", "") == "Split" &&
                        split.value("behavior", "") == "Isolated" && !split.value("invert", false) &&
                        split.contains("pattern") && split["pattern"].is_object() &&
                        split["pattern"].value("Regex", "") == kQwenRegex;
  const bool bytes_ok = bytes.is_object() && bytes.value("type", "") == "ByteLevel" &&
                        !bytes.value("add_prefix_space", true) && !bytes.value("use_regex", true);
  if (!split_ok || !bytes_ok) fail(where, ": field 'pre_tokenizer' is ", pre.dump().substr(0, 300), "; ", expected);
}

}  // namespace

QwenTokenizer::QwenTokenizer(QwenTokenizer&& other) noexcept
    : vocab_(std::move(other.vocab_)),
      tokens_(std::move(other.tokens_)),
      merges_(std::move(other.merges_)),
      ignore_merges_(other.ignore_merges_),
      raw_added_(std::move(other.raw_added_)),
      normalized_added_(std::move(other.normalized_added_)),
      max_length_(other.max_length_) {
  std::copy(std::begin(other.byte_id_), std::end(other.byte_id_), std::begin(byte_id_));
}

QwenTokenizer QwenTokenizer::from_folder(const std::string& dir, int max_length) {
  const std::filesystem::path file = std::filesystem::path(dir) / "tokenizer.json";
  if (!std::filesystem::is_regular_file(file))
    fail("tokenizer folder ", dir, ": lacks tokenizer.json (expected a Qwen2 tokenizer saved by transformers)");
  return from_tokenizer_json(file.string(), max_length);
}

QwenTokenizer QwenTokenizer::from_tokenizer_json(const std::string& path, int max_length) {
  const std::string where = "tokenizer file " + path;
  if (max_length < 1 || max_length > kMaxSupportedLength)
    fail(where, ": max_length ", max_length, ", expected 1..", kMaxSupportedLength);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(where, ": cannot open (expected a Qwen2 tokenizer.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    fail(where, ": expected a JSON object with a 'model' object (a tokenizers file)");
  const auto& model = j["model"];
  auto empty_or_null = [&](const char* key) {
    return !model.contains(key) || model[key].is_null() || (model[key].is_string() && model[key] == "");
  };
  if (model.value("type", "") != "BPE" || !empty_or_null("end_of_word_suffix") ||
      !empty_or_null("continuing_subword_prefix") || model.value("byte_fallback", false))
    fail(where, ": field 'model' is not a plain byte-level BPE (type ", model.value("type", std::string("?")),
         ", end_of_word_suffix/continuing_subword_prefix empty, byte_fallback false expected)");
  if (!model.contains("vocab") || !model["vocab"].is_object() || model["vocab"].empty() || !model.contains("merges") ||
      !model["merges"].is_array())
    fail(where, ": field 'model' lacks a 'vocab' object or a 'merges' list");
  const auto& normalizer = j.value("normalizer", nlohmann::json());
  if (!normalizer.is_object() || normalizer.value("type", "") != "NFC")
    fail(where, ": field 'normalizer' is ", normalizer.dump(), "; expected {\"type\": \"NFC\"} (Qwen2's)");
  check_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), where);

  QwenTokenizer t;
  t.max_length_ = max_length;
  t.ignore_merges_ = model.value("ignore_merges", false);
  auto add_token = [&](const std::string& token, const nlohmann::json& id, const std::string& field) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX)
      fail(where, ": ", field, ": token '", token, "' has id ", id.dump(), ", expected an integer in [0, 2^31)");
    const auto value = id.get<int64_t>();
    t.vocab_[token] = value;
    if (t.tokens_.size() <= static_cast<size_t>(value)) t.tokens_.resize(static_cast<size_t>(value) + 1);
    t.tokens_[static_cast<size_t>(value)] = token;
  };
  for (const auto& [token, id] : model["vocab"].items()) add_token(token, id, "model.vocab");
  const auto& chars = byte_level_chars();
  for (int b = 0; b < 256; ++b) {
    const int64_t id = t.find(chars[static_cast<size_t>(b)]);
    if (id < 0)
      fail(where, ": model.vocab lacks the byte token '", chars[static_cast<size_t>(b)], "' (byte ", b,
           "); expected a byte-level vocabulary");
    t.byte_id_[b] = static_cast<int32_t>(id);
  }
  int32_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space != std::string::npos && space > 0 && space + 1 < s.size() && s.find(' ', space + 1) == std::string::npos)
        left = s.substr(0, space), right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    }
    const std::string at = cat(where, ": model.merges[", rank, "] ", m.dump());
    if (left.empty() || right.empty()) fail(at, ": expected \"left right\" or [\"left\", \"right\"]");
    const int64_t l = t.find(left), r = t.find(right), merged = t.find(left + right);
    if (l < 0 || r < 0 || merged < 0)
      fail(at, ": '", l < 0 ? left : r < 0 ? right : left + right, "' is not in model.vocab");
    t.merges_.add(static_cast<int32_t>(l), static_cast<int32_t>(r), rank++, static_cast<int32_t>(merged));
  }
  std::unordered_map<std::string, int64_t> added;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) fail(where, ": field 'added_tokens' is not a list");
    for (const auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id"))
        fail(where, ": added_tokens entry ", a.dump(), ": expected {\"id\": N, \"content\": \"...\"}");
      if (a.value("lstrip", false) || a.value("rstrip", false) || a.value("single_word", false))
        fail(where, ": added token ", a["content"].dump(),
             " uses lstrip/rstrip/single_word, which Qwen2's tokens never set (unsupported)");
      const std::string content = a["content"].get<std::string>();
      add_token(content, a["id"], "added_tokens");
      added[content] = a["id"].get<int64_t>();
      (a.value("normalized", true) ? t.normalized_added_ : t.raw_added_).add(content, a["id"].get<int64_t>());
    }
  }
  for (const char* required : {"<|im_start|>", "<|im_end|>"})
    if (added.count(required) == 0)
      fail(where, ": lacks the added token '", required, "' that Qwen3's chat template wraps every prompt in");
  return t;
}

std::string QwenTokenizer::chat_text(std::string_view prompt) {
  std::string text = "<|im_start|>user\n";
  text.append(prompt);
  text += "<|im_end|>\n<|im_start|>assistant\n";
  return text;
}

int64_t QwenTokenizer::find(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

void QwenTokenizer::encode_word(std::string_view word, std::vector<int64_t>& out) const {
  cache_.encode(word, out, [&](std::string_view w) {
    std::string as_chars;
    for (char c : w) as_chars += byte_level_chars()[static_cast<unsigned char>(c)];
    const int64_t whole = ignore_merges_ ? find(as_chars) : -1;
    if (whole >= 0) return std::vector<int64_t>{whole};
    std::vector<int32_t> symbols(w.size());
    for (size_t k = 0; k < w.size(); ++k) symbols[k] = byte_id_[static_cast<unsigned char>(w[k])];
    merges_.apply(symbols);
    return std::vector<int64_t>(symbols.begin(), symbols.end());
  });
}

void QwenTokenizer::encode_text(std::string_view normalized, std::vector<int64_t>& out) const {
  for (const std::string& word : qwen_pretokenize(normalized)) encode_word(word, out);
}

std::vector<int64_t> QwenTokenizer::token_ids(std::string_view utf8) const {
  std::vector<int64_t> ids;
  auto push = [&](int64_t id) { ids.push_back(id); };
  raw_added_.split(
      utf8,
      [&](std::string_view piece) {
        const std::string normal = nfc(piece);
        normalized_added_.split(normal, [&](std::string_view rest) { encode_text(rest, ids); }, push);
      },
      push);
  return ids;
}

std::vector<int64_t> QwenTokenizer::encode_prompt(std::string_view prompt) const {
  std::vector<int64_t> ids = token_ids(chat_text(prompt));
  if (ids.size() > static_cast<size_t>(max_length_)) ids.resize(static_cast<size_t>(max_length_));
  return ids;
}

}  // namespace farm::text
