// The data of ftfy 6.3.1's fix_text, generated from the installed ftfy and
// Python by tools/reference/make_text_fix_tables.py into text_fix_tables.cpp.
// Regex patterns are in ICU syntax, ASCII only (non-ASCII as \Uhhhhhhhh); the
// byte patterns read bytes as the code points U+0000..U+00FF.
#pragma once

#include <cstddef>
#include <cstdint>

namespace farm::text::ftfy_data {

// Byte -> code point; 0xFFFFFFFF where the codec has no character (only in
// the strict kWindows1252).
struct Charmap {
  const char* name;
  char32_t to_unicode[256];
};
inline constexpr size_t kCharmapCount = 10;
// ftfy's CHARMAP_ENCODINGS in its order: latin-1, sloppy-windows-1252,
// sloppy-windows-1251, -1250, -1253, -1254, -1257, iso-8859-2, macroman, cp437.
extern const Charmap kCharmaps[kCharmapCount];
extern const Charmap kWindows1252;  // Python's strict codec

extern const char* const kBadnessPattern;       // badness.BADNESS_RE
extern const char* const kUtf8DetectorPattern;  // chardata.UTF8_DETECTOR_RE
extern const char* const kAlteredUtf8Pattern;   // chardata.ALTERED_UTF8_RE (bytes)
extern const char* const kLossyUtf8Pattern;     // chardata.LOSSY_UTF8_RE (bytes)
extern const char* const kAGraveWordPattern;    // fixes.A_GRAVE_WORD_RE (bytes)

struct HtmlEntity {
  const char* name;  // "&amp;", UTF-8; the table is sorted by these bytes
  const char* text;  // UTF-8
};
extern const HtmlEntity kHtmlEntities[];
extern const size_t kHtmlEntitiesCount;

// Python's html.unescape for numeric references: _invalid_charrefs (number ->
// replacement) and _invalid_codepoints (number -> removed).
struct CharrefFix {
  char32_t number;
  char32_t replacement;
};
extern const CharrefFix kInvalidCharrefs[];
extern const size_t kInvalidCharrefsCount;
extern const char32_t kInvalidCodepoints[];  // sorted
extern const size_t kInvalidCodepointsCount;

struct CharMapping {
  char32_t from;
  const char* to;  // UTF-8
};
extern const CharMapping kLigatures[];  // chardata.LIGATURES, sorted
extern const size_t kLigaturesCount;
extern const CharMapping kWidthMap[];  // chardata.WIDTH_MAP, sorted
extern const size_t kWidthMapCount;
extern const char32_t kControlChars[];  // chardata.CONTROL_CHARS, sorted
extern const size_t kControlCharsCount;

}  // namespace farm::text::ftfy_data
