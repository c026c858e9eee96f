#include "farm/text/prompt_chunks.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm::text {
namespace {

// Wraps `tokens` (≤ L of them) as one chunk: BOS, tokens, EOS padding to L,
// EOS; then, where the pad token is not EOS (SD 2.x: "!"), everything after
// the first EOS becomes padding, as the tokenizer pads.
void append_chunk(PromptChunks& c, const ClipTokenizer& tok, std::vector<int64_t> tokens, std::vector<float> weights) {
  const size_t L = static_cast<size_t>(tok.max_length() - 2);
  FARM_ASSERT(tokens.size() <= L && tokens.size() == weights.size(), "chunk of ", tokens.size());
  tokens.resize(L, tok.eos_id());
  weights.resize(L, 1.0f);
  const size_t at = c.ids.size();
  c.ids.push_back(tok.bos_id());
  c.ids.insert(c.ids.end(), tokens.begin(), tokens.end());
  c.ids.push_back(tok.eos_id());
  c.weights.push_back(1.0f);
  c.weights.insert(c.weights.end(), weights.begin(), weights.end());
  c.weights.push_back(1.0f);
  if (tok.pad_id() != tok.eos_id()) {
    auto first_eos = std::find(c.ids.begin() + static_cast<std::ptrdiff_t>(at) + 1, c.ids.end(), tok.eos_id());
    if (first_eos != c.ids.end()) std::fill(first_eos + 1, c.ids.end(), tok.pad_id());
  }
  ++c.count;
}

}  // namespace

bool PromptChunks::weighted() const {
  return std::any_of(weights.begin(), weights.end(), [](float w) { return w != 1.0f; });
}

PromptChunks chunk_prompt(const ClipTokenizer& tok, const std::vector<PromptPiece>& pieces, int comma_backtrack,
                          bool fix_text) {
  const size_t L = static_cast<size_t>(tok.max_length() - 2);
  const std::vector<int64_t> comma_ids = tok.token_ids(",");
  const int64_t comma = comma_ids.size() == 1 ? comma_ids[0] : -1;
  PromptChunks c;
  std::vector<int64_t> ids;
  std::vector<float> ws;
  int64_t last_comma = -1;
  const auto next_chunk = [&] {
    append_chunk(c, tok, std::move(ids), std::move(ws));
    ids.clear(), ws.clear();
    last_comma = -1;
  };
  for (const auto& p : pieces) {
    if (p.is_break) {
      next_chunk();
      continue;
    }
    const float w = static_cast<float>(p.weight);  // torch.asarray of the Python floats: float32
    for (const int64_t t : tok.token_ids(p.text, fix_text)) {
      ++c.prompt_tokens;
      if (t == comma) {
        last_comma = static_cast<int64_t>(ids.size());
      } else if (comma_backtrack != 0 && ids.size() == L && last_comma != -1 &&
                 static_cast<int64_t>(ids.size()) - last_comma <= comma_backtrack) {
        // Full, and a comma is near: the words after it start the next chunk.
        const auto cut = static_cast<std::ptrdiff_t>(last_comma + 1);
        std::vector<int64_t> moved_ids(ids.begin() + cut, ids.end());
        std::vector<float> moved_ws(ws.begin() + cut, ws.end());
        ids.resize(static_cast<size_t>(cut)), ws.resize(static_cast<size_t>(cut));
        next_chunk();
        ids = std::move(moved_ids), ws = std::move(moved_ws);
      }
      if (ids.size() == L) next_chunk();
      ids.push_back(t);
      ws.push_back(w);
    }
  }
  if (!ids.empty() || c.count == 0) next_chunk();
  return c;
}

PromptChunks plain_prompt(const ClipTokenizer& tok, std::string_view prompt, bool fix_text) {
  PromptChunks c;
  c.count = 1;
  c.ids = tok.encode(prompt, fix_text);
  c.weights.assign(c.ids.size(), 1.0f);
  c.prompt_tokens = static_cast<int64_t>(tok.token_ids(prompt, fix_text).size());
  return c;
}

void pad_chunks(PromptChunks& c, int count, const ClipTokenizer& tok) {
  while (c.count < count) append_chunk(c, tok, {}, {});
}

const char* syntax_name(PromptSyntax s) { return s == PromptSyntax::a1111 ? "a1111" : "plain"; }

bool parse_syntax(std::string_view name, PromptSyntax& out) {
  if (name == "a1111") out = PromptSyntax::a1111;
  else if (name == "plain") out = PromptSyntax::plain;
  else return false;
  return true;
}

PromptChunks prompt_chunks(const ClipTokenizer& tok, std::string_view prompt, PromptReading reading) {
  if (reading.syntax == PromptSyntax::plain) return plain_prompt(tok, prompt, reading.fix_text);
  return chunk_prompt(tok, parse_prompt_attention(strip_extra_networks(prompt, nullptr)), 20, reading.fix_text);
}

}  // namespace farm::text
