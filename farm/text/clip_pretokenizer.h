// Text -> words, as transformers' slow CLIPTokenizer does it when ftfy is not
// installed (transformers 4.x, tokenization_clip.py):
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

ClipCharClass clip_char_class(char32_t cp);

// The regex matches, each as UTF-8, in order. Ill-formed UTF-8 in `chunk`
// reads as U+FFFD, which clean_text drops.
std::vector<std::string> clip_pretokenize(std::string_view chunk);

}  // namespace farm::text
