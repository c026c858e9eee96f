// ftfy's mojibake repair (fix_encoding), used by text_fix.cpp: if ftfy's
// badness regex finds likely mojibake, try to encode the text in each of ten
// single-byte codecs (latin-1, sloppy windows-1252/1251/1250/1253/1254/1257,
// iso-8859-2, macroman, cp437) and decode the bytes as UTF-8 (or ftfy's
// "utf-8-variants": CESU-8 and Java's C0 80), with restore_byte_a0 and
// replace_lossy_sequences on the bytes; else fix embedded UTF-8 mojibake
// (decode_inconsistent_utf8), else Latin-1 read as Windows-1252, else C1
// controls. Repeated until the text stops changing. Tables and regexes come
// from ftfy itself (text_fix_tables.h).
#pragma once

#include <unicode/regex.h>
#include <unicode/unistr.h>

namespace farm::text::detail {

// badness.is_bad: true if ftfy's badness regex matches anywhere.
bool is_bad(const icu::UnicodeString& text);

icu::UnicodeString fix_encoding(const icu::UnicodeString& text);

// fixes.fix_c1_controls: each of U+0080..U+009F -> its sloppy-windows-1252
// character (U+0081, U+008D, U+008F, U+0090, U+009D stay).
icu::UnicodeString fix_c1_controls(const icu::UnicodeString& text);

// A pattern of text_fix_tables.h, compiled once (shared by threads; each
// caller makes its own matcher).
const icu::RegexPattern& compiled_pattern(const char* pattern);

}  // namespace farm::text::detail
