// Text -> words, as transformers' slow CLIPTokenizer (transformers 4.x,
// tokenization_clip.py) does it, in its two modes.
//
// With ftfy importable (fix_text = true; also the original CLIP tokenizer):
//   whitespace_clean(ftfy.fix_text(text)).lower(), whitespace_clean being
//   re.sub(r"\s+", " ", text).strip() (text_fix.h), then the regex below.
//
// Without ftfy (fix_text = false, the fallback):
//   BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize:
//     clean_text (drop NUL, U+FFFD, control/format/unassigned; whitespace -> ' '),
//     spaces around CJK ideographs, NFC, split on whitespace, lowercase each piece;
//   then re.findall of
//     <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//   (IGNORECASE) over the pieces joined by ' '.
// Added tokens (<|endoftext|> etc. typed literally) are split off before this,
// by ClipTokenizer; here they only arise again from the regex's own branch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace farm::text {

// What the slow tokenizer does with one code point; the letters are those of
// tests/data/tokenizer/char_classes.json.
// In the ftfy mode nothing is dropped and CJK ideographs are letters: only
// kSpace, kLetter, kNumber, kOther and kNone occur (clip_regex_char_class).
enum class ClipCharClass : char {
  kDropped = 'D',    // removed by clean_text (Python's category C*, NUL, U+FFFD)
  kSpace = 'S',      // becomes a word break
  kCjk = 'C',        // CJK ideograph: a word of its own (and a letter)
  kLetter = 'L',     // [\p{L}]
  kNumber = 'N',     // [\p{N}]: one code point per word
  kOther = 'O',      // [^\s\p{L}\p{N}]
  kNone = 'X',       // matched by no branch under IGNORECASE (U+0345): skipped
  kSurrogate = 'U',  // not a scalar value; never seen in decoded text
};

ClipCharClass clip_char_class(char32_t cp);  // fallback mode

// What the ftfy mode does with one code point after whitespace_clean: the
// regex's class (kSpace: Python's str.isspace, which whitespace_clean turns
// into ' ').
ClipCharClass clip_regex_char_class(char32_t cp);

// The regex matches, each as UTF-8, in order. Ill-formed UTF-8 in `chunk`
// reads as U+FFFD, which the fallback's clean_text drops and ftfy keeps.
std::vector<std::string> clip_pretokenize(std::string_view chunk, bool fix_text);

}  // namespace farm::text
