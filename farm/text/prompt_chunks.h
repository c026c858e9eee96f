// Prompts of any length, as A1111 feeds them to CLIP: the prompt's tokens
// in chunks of 75, each wrapped in start/end tokens and padded to 77, with a
// weight per token (prompt_attention.h). The text encoder runs on each chunk
// alone and the chunks' embeddings are concatenated along the sequence, so
// a 150-token prompt conditions the UNet on 154 positions.
//
// The rule of A1111's tokenize_line: each piece is tokenized on its own;
// BREAK pads the chunk out and starts the next; when a chunk is full and a
// comma lies within the last `comma_backtrack` (20) tokens, the tokens after
// that comma move to the next chunk, so phrases are not cut in half.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "farm/text/clip_tokenizer.h"
#include "farm/text/prompt_attention.h"

namespace farm::text {

struct PromptChunks {
  int count = 0;                // chunks, each the tokenizer's max_length (77) ids
  std::vector<int64_t> ids;     // count · 77: BOS, up to 75 tokens, EOS, padding
  std::vector<float> weights;   // count · 77; 1 at BOS, EOS and padding
  int64_t prompt_tokens = 0;    // the prompt's own tokens (without BOS/EOS/padding)
  bool weighted() const;        // some weight is not 1
};

PromptChunks chunk_prompt(const ClipTokenizer& tok, const std::vector<PromptPiece>& pieces, int comma_backtrack = 20,
                          bool fix_text = true);

// The prompt as plain text, as diffusers encodes it: one chunk, cut at 75
// tokens (prompt_tokens says how many there were).
PromptChunks plain_prompt(const ClipTokenizer& tok, std::string_view prompt, bool fix_text = true);

// How a prompt's text is read: A1111's syntax (weights, BREAK, long prompts
// in chunks; <lora:...> tags taken out), or plain text as diffusers reads it
// (brackets are characters, cut at 75 tokens).
enum class PromptSyntax : uint8_t { a1111, plain };
const char* syntax_name(PromptSyntax s);
bool parse_syntax(std::string_view name, PromptSyntax& out);  // "a1111" | "plain"

// How a job reads its prompts: the syntax, and whether text is fixed as
// ftfy does before tokenizing (clip_tokenizer.h; --text-fix).
struct PromptReading {
  PromptSyntax syntax = PromptSyntax::a1111;
  bool fix_text = true;
  bool operator==(const PromptReading&) const = default;
};

// A prompt as the model's text encoder gets it.
PromptChunks prompt_chunks(const ClipTokenizer& tok, std::string_view prompt, PromptReading reading);

// Appends empty chunks (the encoding of "": BOS, EOS, padding) up to `count`,
// as A1111 does to the shorter of a prompt and its negative prompt.
void pad_chunks(PromptChunks& c, int count, const ClipTokenizer& tok);

}  // namespace farm::text
