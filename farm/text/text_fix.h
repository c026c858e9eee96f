// ftfy.fix_text (ftfy 6.3.1, default TextFixerConfig), which the original
// CLIP tokenizer and transformers' CLIPTokenizer (when ftfy is importable, as
// in A1111's environment) apply to a prompt before anything else.
//
// Per segment (line, '\n' included), repeated until nothing changes:
//   unescape_html ("auto": off from the first segment holding '<' onwards),
//   fix_encoding (mojibake: text encoded in one of ten single-byte codecs and
//   decoded as UTF-8, when ftfy's badness heuristic calls it mojibake; see
//   text_fix_encoding.h), fix_c1_controls, fix_latin_ligatures,
//   fix_character_width, uncurl_quotes, fix_line_breaks,
//   remove_terminal_escapes, remove_control_chars, NFC.
//
// Left out, with why:
//   * fix_surrogates: UTF-8 input cannot hold UTF-16 surrogates (an encoded
//     one is ill-formed UTF-8 and reads as U+FFFD, as Python's
//     decode(errors="replace") would give).
//   * max_decode_length (segments cut every 10^6 code points): prompts are
//     far shorter; here a line is one segment however long.
//   * Unicode version: ICU's data (NFC, digits) against Python 3.11's
//     unicodedata 14.0; they differ only on code points assigned later.
#pragma once

#include <string>
#include <string_view>

namespace farm::text {

// Ill-formed UTF-8 in `utf8` reads as U+FFFD. Returns UTF-8.
std::string fix_text(std::string_view utf8);

}  // namespace farm::text
