// The CLIP tokenizer (farm/text) on arbitrary bytes: valid and ill-formed
// UTF-8, control characters, added tokens typed literally, very long words.
// Both shipped special-token sets run: SD 1.x pads with <|endoftext|>, SD 2.x
// with "!", which is then an added token that splits words. Then the same
// bytes as an A1111-syntax prompt: parsed and cut into 77-id chunks. Then
// Qwen2's tokenizer (Z-Image's): its pre-tokenizer's words concatenate back
// to the text, and the templated ids stop at max_length.
#include <cstdint>
#include <memory>
#include <string_view>

#include "farm/core/error.h"
#include "farm/coord/utf8.h"
#include "farm/text/clip_tokenizer.h"
#include "farm/text/prompt_chunks.h"
#include "farm/text/qwen_pretokenizer.h"
#include "farm/text/qwen_tokenizer.h"
#include "fuzz/fuzz_support.h"

namespace {

void check_ids(const farm::text::ClipTokenizer& tok, std::string_view text) {
  using farm::fuzz::check;
  const std::vector<int64_t> ids = tok.encode(text);
  check(ids.size() == static_cast<size_t>(tok.max_length()), "encode returns max_length ids");
  check(ids.front() == tok.bos_id(), "the ids start with BOS");
  const std::vector<int64_t> raw = tok.token_ids(text);
  check(raw.size() + 2 > ids.size() || ids[raw.size() + 1] == tok.eos_id(), "EOS follows a short prompt");
  for (int64_t id : raw) check(id >= 0 && id < 49408, "every id is in the CLIP vocabulary");
  tok.decode(ids);
  // A1111 syntax: a weight that is not a number is the only error (farm::Error).
  std::vector<farm::text::PromptPiece> pieces;
  try {
    pieces = farm::text::parse_prompt_attention(farm::text::strip_extra_networks(text, nullptr));
  } catch (const farm::Error&) {
    return;
  }
  const auto c = farm::text::chunk_prompt(tok, pieces);
  const auto L = static_cast<size_t>(tok.max_length());
  check(c.count >= 1 && c.ids.size() == L * static_cast<size_t>(c.count) && c.weights.size() == c.ids.size(),
        "chunks of max_length ids and weights");
  for (int k = 0; k < c.count; ++k) check(c.ids[L * static_cast<size_t>(k)] == tok.bos_id(), "each chunk starts with BOS");
}

void check_qwen(const farm::text::QwenTokenizer& tok, std::string_view text) {
  using farm::fuzz::check;
  std::string joined;
  for (const std::string& w : farm::text::qwen_pretokenize(text)) {
    check(!w.empty(), "no empty word");
    joined += w;
  }
  if (!farm::utf8::first_invalid_byte(text)) check(joined == text, "the words concatenate back to valid text");
  const std::vector<int64_t> ids = tok.encode_prompt(text);
  check(!ids.empty() && ids.size() <= static_cast<size_t>(tok.max_length()), "1..max_length ids");
  check(ids.front() == tok.find("<|im_start|>"), "the template opens the ids");
  for (int64_t id : ids) check(id >= 0 && static_cast<size_t>(id) < tok.vocab_size(), "every id is in the vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Loaded once per process: the full CLIP vocabulary takes a while under ASan.
  static const auto sd1 = std::make_unique<farm::text::ClipTokenizer>(
      farm::text::ClipTokenizer::from_folder(FARM_FUZZ_DATA "/tiny-sd1/tokenizer"));
  static const auto sd2 = std::make_unique<farm::text::ClipTokenizer>(
      farm::text::ClipTokenizer::from_folder(FARM_FUZZ_DATA "/tiny-sd2/tokenizer"));
  static const auto qwen = std::make_unique<farm::text::QwenTokenizer>(
      farm::text::QwenTokenizer::from_folder(FARM_FUZZ_DATA "/tiny-zimage/tokenizer", 64));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // encode() documents no error for any input: a farm::Error here is a finding too.
  check_ids(*sd1, text);
  check_ids(*sd2, text);
  check_qwen(*qwen, text);
  return 0;
}
