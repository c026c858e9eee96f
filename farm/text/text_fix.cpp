#include "farm/text/text_fix.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

#include "farm/core/error.h"
#include "farm/text/text_fix_encoding.h"
#include "farm/text/text_fix_tables.h"

namespace farm::text {
namespace {

namespace data = ftfy_data;

icu::UnicodeString from_utf8(std::string_view utf8) {
  if (utf8.size() > static_cast<size_t>(INT32_MAX) / 4)
    fail("prompt of ", utf8.size(), " bytes: too long to tokenize");
  const auto* bytes = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto length = static_cast<int32_t>(utf8.size());
  icu::UnicodeString out;
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    out.append(c < 0 ? 0xFFFD : c);  // as Python's decode(errors="replace")
  }
  return out;
}

bool is_ascii_alnum(UChar c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// html.unescape of one "&#...;" that matched ftfy's entity regex; nullopt
// when Python would leave it (not all of it is one numeric reference, or
// the result holds ';').
std::optional<icu::UnicodeString> numeric_reference(const icu::UnicodeString& ref) {
  const bool hex = ref.length() > 3 && (ref.charAt(2) == 'x' || ref.charAt(2) == 'X');
  const int32_t first = hex ? 3 : 2;
  uint64_t number = 0;
  for (int32_t i = first; i + 1 < ref.length(); ++i) {
    const UChar c = ref.charAt(i);
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (hex && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (hex && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return std::nullopt;
    number = std::min<uint64_t>(number * (hex ? 16 : 10) + static_cast<uint64_t>(digit), 0x7FFFFFFF);
  }
  icu::UnicodeString out;
  const auto* fix = std::find_if(data::kInvalidCharrefs, data::kInvalidCharrefs + data::kInvalidCharrefsCount,
                                 [&](const data::CharrefFix& f) { return f.number == number; });
  if (fix != data::kInvalidCharrefs + data::kInvalidCharrefsCount) {
    out.append(static_cast<UChar32>(fix->replacement));
  } else if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) {
    out.append(static_cast<UChar32>(0xFFFD));
  } else if (!std::binary_search(data::kInvalidCodepoints, data::kInvalidCodepoints + data::kInvalidCodepointsCount,
                                 static_cast<char32_t>(number))) {
    out.append(static_cast<UChar32>(number));
  }
  if (out.indexOf(u';') >= 0) return std::nullopt;
  return out;
}

// fixes.unescape_html: every "&#?[0-9A-Za-z]{1,24};" that is an html5 entity
// (or one of ftfy's upper-case forms) or a whole numeric reference.
icu::UnicodeString unescape_html(const icu::UnicodeString& text) {
  if (text.indexOf(u'&') < 0) return text;
  icu::UnicodeString out;
  int32_t i = 0;
  while (i < text.length()) {
    const UChar c = text.charAt(i);
    int32_t end = -1;
    if (c == '&') {
      int32_t k = i + 1;
      if (k < text.length() && text.charAt(k) == '#') ++k;
      const int32_t name_start = k;
      while (k < text.length() && is_ascii_alnum(text.charAt(k))) ++k;
      if (k > name_start && k - name_start <= 24 && k < text.length() && text.charAt(k) == ';') end = k + 1;
    }
    if (end < 0) {
      out.append(c);
      ++i;
      continue;
    }
    const icu::UnicodeString ref(text, i, end - i);
    std::string key;
    ref.toUTF8String(key);
    const auto* hit = std::lower_bound(
        data::kHtmlEntities, data::kHtmlEntities + data::kHtmlEntitiesCount, key,
        [](const data::HtmlEntity& e, const std::string& k) { return std::strcmp(e.name, k.c_str()) < 0; });
    if (hit != data::kHtmlEntities + data::kHtmlEntitiesCount && key == hit->name) {
      out.append(icu::UnicodeString::fromUTF8(hit->text));
    } else if (ref.charAt(1) == '#') {
      out.append(numeric_reference(ref).value_or(ref));
    } else {
      out.append(ref);
    }
    i = end;
  }
  return out;
}

const char* find_mapping(const data::CharMapping* table, size_t count, char32_t c) {
  const auto* hit = std::lower_bound(table, table + count, c,
                                     [](const data::CharMapping& m, char32_t x) { return m.from < x; });
  return hit != table + count && hit->from == c ? hit->to : nullptr;
}

// The per-character fixers of fix_and_explain's loop, in ftfy's order:
// fix_latin_ligatures, fix_character_width, uncurl_quotes, then
// remove_control_chars (after line breaks and terminal escapes, which it
// cannot interact with: neither removes nor creates a control character it
// drops, except ESC, which remove_terminal_escapes needs first).
icu::UnicodeString map_characters(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (const char* to = find_mapping(data::kLigatures, data::kLigaturesCount, static_cast<char32_t>(c))) {
      out.append(icu::UnicodeString::fromUTF8(to));
    } else if (const char* wide = find_mapping(data::kWidthMap, data::kWidthMapCount, static_cast<char32_t>(c))) {
      out.append(icu::UnicodeString::fromUTF8(wide));
    } else {
      out.append(c);
    }
  }
  // uncurl_quotes runs on the result: a width-mapped character is never a
  // curly quote, so one pass is the same.
  icu::UnicodeString uncurled;
  for (int32_t i = 0; i < out.length(); ++i) {
    const UChar u = out.charAt(i);
    if (u == 0x02BC || (u >= 0x2018 && u <= 0x201B))
      uncurled.append(u'\'');
    else if (u >= 0x201C && u <= 0x201F)
      uncurled.append(u'"');
    else
      uncurled.append(u);
  }
  return uncurled;
}

// fixes.fix_line_breaks: CRLF, CR, U+2028, U+2029, U+0085 -> '\n'.
icu::UnicodeString fix_line_breaks(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length(); ++i) {
    const UChar u = text.charAt(i);
    if (u == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') continue;
    out.append(u == '\r' || u == 0x2028 || u == 0x2029 || u == 0x85 ? u'\n' : u);
  }
  return out;
}

// fixes.remove_terminal_escapes: "\033\[((?:\d|;)*)([a-zA-Z])", \d being any
// Unicode decimal digit as in Python.
icu::UnicodeString remove_terminal_escapes(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length();) {
    if (text.charAt(i) == 0x1B && i + 1 < text.length() && text.charAt(i + 1) == '[') {
      int32_t k = i + 2;
      while (k < text.length() &&
             (text.charAt(k) == ';' || u_charType(text.char32At(k)) == U_DECIMAL_DIGIT_NUMBER))
        k = text.moveIndex32(k, 1);
      if (k < text.length() && text.charAt(k) < 0x80 && u_isalpha(text.charAt(k))) {
        i = k + 1;
        continue;
      }
    }
    out.append(text.charAt(i));
    ++i;
  }
  return out;
}

icu::UnicodeString remove_control_chars(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (!std::binary_search(data::kControlChars, data::kControlChars + data::kControlCharsCount,
                            static_cast<char32_t>(c)))
      out.append(c);
  }
  return out;
}

icu::UnicodeString nfc(const icu::UnicodeString& text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC data: ", u_errorName(status));
  icu::UnicodeString out = normalizer->normalize(text, status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC: ", u_errorName(status));
  return out;
}

// ftfy.fix_and_explain on one segment, without the explanation.
icu::UnicodeString fix_segment(icu::UnicodeString text, bool unescape) {
  while (true) {
    const icu::UnicodeString original = text;
    if (unescape) text = unescape_html(text);
    text = detail::fix_encoding(text);
    text = detail::fix_c1_controls(text);
    text = map_characters(text);
    text = fix_line_breaks(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = nfc(text);
    if (text == original) return text;
  }
}

}  // namespace

std::string fix_text(std::string_view utf8) {
  const icu::UnicodeString text = from_utf8(utf8);
  icu::UnicodeString fixed;
  bool unescape = true;  // "auto": stays off once a segment had a '<'
  for (int32_t pos = 0; pos < text.length();) {
    const int32_t newline = text.indexOf(u'\n', pos);
    const int32_t end = newline < 0 ? text.length() : newline + 1;
    const icu::UnicodeString segment(text, pos, end - pos);
    if (unescape && segment.indexOf(u'<') >= 0) unescape = false;
    fixed.append(fix_segment(segment, unescape));
    pos = end;
  }
  std::string out;
  fixed.toUTF8String(out);
  return out;
}

}  // namespace farm::text
