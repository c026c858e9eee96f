// Text -> words as Qwen2's pre-tokenizer splits it (transformers'
// Qwen2Tokenizer: the tokenizers library's Split with this regex, run by
// Oniguruma, behaviour "isolated"):
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Digits go one by one, a letter run takes one leading non-letter (a space,
// a quote), punctuation keeps the newlines after it, and a whitespace run
// leaves its last character to the word that follows. Hand-written rather
// than a regex engine's: the branches are few, and Oniguruma's \s (Unicode
// White_Space) is not std::regex's or ICU's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace farm::text {

// How the regex sees one code point; the classes of
// tests/data/tokenizer/qwen_regex_classes.json.
enum class QwenCharClass : char {
  kLetter = 'L',     // \p{L}
  kNumber = 'N',     // \p{N}
  kNewline = 'R',    // \r or \n (also \s)
  kSpace = 'S',      // the rest of \s (White_Space)
  kOther = 'O',      // [^\s\p{L}\p{N}]
  kSurrogate = 'U',  // not a scalar value; never in decoded text
};

QwenCharClass qwen_char_class(char32_t cp);

// The regex's matches over `text` (NFC-normalized UTF-8 with no added
// tokens in it), each as UTF-8, in order; they concatenate back to `text`.
// Ill-formed UTF-8 reads as U+FFFD.
std::vector<std::string> qwen_pretokenize(std::string_view text);

}  // namespace farm::text
