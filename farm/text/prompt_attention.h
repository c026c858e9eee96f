// The prompt syntax of AUTOMATIC1111's web UI, which most prompt files are
// written in (ComfyUI reads the same brackets):
//   (text)      weight × 1.1          [text]      weight ÷ 1.1
//   (text:1.5)  weight × 1.5 (any [+-]digits.digits; nests, multiplying)
//   \( \) \[ \] \\   literal brackets / backslash
//   BREAK       (a whole word, capitals) ends the 75-token chunk here
//   <lora:name:w>   an extra network: taken out of the text, see below
// Parsed as A1111's prompt_parser.parse_prompt_attention does: unclosed
// brackets close at the end, a stray ')' or ']' is text, ':' outside a
// weight is text, and neighbouring pieces of equal weight merge (which
// matters: each piece is tokenized on its own). Weights are doubles
// multiplied in A1111's order, so they are the same numbers.
//
// One deliberate difference: A1111 represents BREAK as a piece of weight -1,
// so a BREAK inside brackets gets its weight multiplied and is then
// tokenized as the word "break"; here BREAK always breaks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace farm::text {

struct PromptPiece {
  std::string text;
  double weight = 1.0;
  bool is_break = false;  // BREAK: text empty
  bool operator==(const PromptPiece&) const = default;
};

// Never empty: an empty prompt is one piece {"", 1.0}. Fails (farm::Error)
// on a weight that is not a number ("(a:1.2.3)"), where A1111 would crash.
std::vector<PromptPiece> parse_prompt_attention(std::string_view prompt);

// An extra-network tag <kind:arg:arg...> as A1111 matches it: kind is
// [A-Za-z0-9_]+, the arguments run to the first '>'.
struct ExtraNetworkTag {
  std::string kind;
  std::vector<std::string> args;  // split at ':'
};

// The prompt with every tag removed (A1111 removes them before parsing
// attention), and the tags in order.
std::string strip_extra_networks(std::string_view prompt, std::vector<ExtraNetworkTag>* tags);

}  // namespace farm::text
