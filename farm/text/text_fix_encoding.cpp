#include "farm/text/text_fix_encoding.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/text/text_fix_tables.h"

namespace farm::text::detail {
namespace {

namespace data = ftfy_data;
constexpr char32_t kNoChar = 0xFFFFFFFF;
constexpr size_t kLatin1 = 0;
constexpr size_t kSloppy1252 = 1;
constexpr size_t kMacRoman = 8;

// Bytes are held as the code points U+0000..U+00FF so that ftfy's byte
// regexes run on ICU's regex engine unchanged.
using Bytes = icu::UnicodeString;

bool search(const char* pattern, const icu::UnicodeString& text) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> m(compiled_pattern(pattern).matcher(text, status));
  FARM_ASSERT(U_SUCCESS(status), "ICU matcher: ", u_errorName(status));
  const bool found = m->find(status);
  FARM_ASSERT(U_SUCCESS(status), "ICU regex find: ", u_errorName(status));
  return found;
}

// re.sub with a function of the matched text.
template <typename Fn>
icu::UnicodeString substitute(const char* pattern, const icu::UnicodeString& text, Fn&& replace) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> m(compiled_pattern(pattern).matcher(text, status));
  FARM_ASSERT(U_SUCCESS(status), "ICU matcher: ", u_errorName(status));
  icu::UnicodeString out;
  int32_t last = 0;
  while (m->find(status)) {
    const int32_t start = m->start(status);
    const int32_t end = m->end(status);
    out.append(text, last, start - last);
    out.append(replace(icu::UnicodeString(text, start, end - start)));
    last = end;
  }
  FARM_ASSERT(U_SUCCESS(status), "ICU regex: ", u_errorName(status));
  out.append(text, last, text.length() - last);
  return out;
}

// Which characters a codec can produce, and how to go back to its bytes.
struct Codec {
  std::map<char32_t, uint8_t> to_byte;  // over all 256 bytes
  std::vector<char32_t> high;           // what bytes 0x80..0xFF and 0x1A decode to
};

const std::vector<Codec>& codecs() {
  static const std::vector<Codec> all = [] {
    std::vector<Codec> out(data::kCharmapCount);
    for (size_t e = 0; e < data::kCharmapCount; ++e) {
      const auto& map = data::kCharmaps[e].to_unicode;
      for (int b = 255; b >= 0; --b)  // the lowest byte wins, as charmap_build
        if (map[b] != kNoChar) out[e].to_byte[map[b]] = static_cast<uint8_t>(b);
      for (int b = 0x80; b < 0x100; ++b) out[e].high.push_back(map[b]);
      out[e].high.push_back(map[0x1A]);
      std::sort(out[e].high.begin(), out[e].high.end());
    }
    return out;
  }();
  return all;
}

// chardata.possible_encoding: every character is ASCII other than U+001A, or
// one that bytes 0x80..0xFF or 0x1A decode to.
bool possible_encoding(const icu::UnicodeString& text, size_t codec) {
  const auto& high = codecs()[codec].high;
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const auto c = static_cast<char32_t>(text.char32At(i));
    if (c < 0x80 && c != 0x1A) continue;
    if (!std::binary_search(high.begin(), high.end(), c)) return false;
  }
  return true;
}

bool is_ascii(const icu::UnicodeString& text) {
  for (int32_t i = 0; i < text.length(); ++i)
    if (text.charAt(i) >= 0x80) return false;
  return true;
}

Bytes encode(const icu::UnicodeString& text, size_t codec) {
  Bytes out;
  const auto& to_byte = codecs()[codec].to_byte;
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const auto it = to_byte.find(static_cast<char32_t>(text.char32At(i)));
    FARM_ASSERT(it != to_byte.end(), "encode after possible_encoding");
    out.append(static_cast<UChar>(it->second));
  }
  return out;
}

// Strict UTF-8 as Python decodes it; `variants` adds ftfy's utf-8-variants:
// C0 80 is U+0000 and a CESU-8 surrogate pair is one code point.
std::optional<icu::UnicodeString> decode_utf8(const Bytes& bytes, bool variants) {
  const int32_t n = bytes.length();
  auto at = [&](int32_t i) -> uint32_t { return i < n ? bytes.charAt(i) : 0x100; };
  auto cont = [&](int32_t i, uint32_t lo = 0x80, uint32_t hi = 0xBF) { return at(i) >= lo && at(i) <= hi; };
  icu::UnicodeString out;
  for (int32_t i = 0; i < n;) {
    const uint32_t b = at(i);
    if (b < 0x80) {
      out.append(static_cast<UChar32>(b));
      ++i;
    } else if (variants && b == 0xC0 && at(i + 1) == 0x80) {
      out.append(static_cast<UChar32>(0));
      i += 2;
    } else if (variants && b == 0xED && cont(i + 1, 0xA0, 0xAF) && cont(i + 2) && at(i + 3) == 0xED &&
               cont(i + 4, 0xB0, 0xBF) && cont(i + 5)) {
      const uint32_t cp = ((at(i + 1) & 0x0F) << 16) + ((at(i + 2) & 0x3F) << 10) + ((at(i + 4) & 0x0F) << 6) +
                          (at(i + 5) & 0x3F) + 0x10000;
      out.append(static_cast<UChar32>(cp));
      i += 6;
    } else if (b >= 0xC2 && b <= 0xDF && cont(i + 1)) {
      out.append(static_cast<UChar32>(((b & 0x1F) << 6) | (at(i + 1) & 0x3F)));
      i += 2;
    } else if (b >= 0xE0 && b <= 0xEF && cont(i + 1, b == 0xE0 ? 0xA0 : 0x80, b == 0xED ? 0x9F : 0xBF) &&
               cont(i + 2)) {
      out.append(static_cast<UChar32>(((b & 0x0F) << 12) | ((at(i + 1) & 0x3F) << 6) | (at(i + 2) & 0x3F)));
      i += 3;
    } else if (b >= 0xF0 && b <= 0xF4 && cont(i + 1, b == 0xF0 ? 0x90 : 0x80, b == 0xF4 ? 0x8F : 0xBF) &&
               cont(i + 2) && cont(i + 3)) {
      out.append(static_cast<UChar32>(((b & 0x07) << 18) | ((at(i + 1) & 0x3F) << 12) | ((at(i + 2) & 0x3F) << 6) |
                                      (at(i + 3) & 0x3F)));
      i += 4;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

bool contains_byte(const Bytes& bytes, UChar b) { return bytes.indexOf(b) >= 0; }

// fixes.restore_byte_a0: a space that stands for byte A0 inside what would
// otherwise be a UTF-8 sequence becomes A0 again.
Bytes restore_byte_a0(const Bytes& bytes) {
  const Bytes a_grave =
      substitute(data::kAGraveWordPattern, bytes, [](const icu::UnicodeString&) {
        return icu::UnicodeString(static_cast<UChar>(0xC3)).append(static_cast<UChar>(0xA0)).append(u' ');
      });
  return substitute(data::kAlteredUtf8Pattern, a_grave, [](icu::UnicodeString match) {
    return match.findAndReplace(icu::UnicodeString(u' '), icu::UnicodeString(static_cast<UChar>(0xA0)));
  });
}

// fixes.replace_lossy_sequences: a UTF-8 sequence with a byte lost to 0x1A
// (or '?') becomes the bytes of U+FFFD.
Bytes replace_lossy_sequences(const Bytes& bytes) {
  return substitute(data::kLossyUtf8Pattern, bytes, [](const icu::UnicodeString&) {
    icu::UnicodeString fffd;
    fffd.append(static_cast<UChar>(0xEF)).append(static_cast<UChar>(0xBF)).append(static_cast<UChar>(0xBD));
    return fffd;
  });
}

// fixes.decode_inconsistent_utf8: each run that looks like UTF-8 mojibake,
// shorter than the text and bad on its own, is fixed by itself.
icu::UnicodeString decode_inconsistent_utf8(const icu::UnicodeString& text) {
  const int32_t length = text.countChar32();
  return substitute(data::kUtf8DetectorPattern, text, [&](const icu::UnicodeString& run) {
    if (run.countChar32() < length && is_bad(run)) return fix_encoding(run);
    return run;
  });
}

// Latin-1 bytes read as (strict) Windows-1252; nullopt where a byte has no
// character there.
std::optional<icu::UnicodeString> latin1_as_windows1252(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length(); ++i) {
    const char32_t c = data::kWindows1252.to_unicode[text.charAt(i) & 0xFF];
    if (c == kNoChar) return std::nullopt;
    out.append(static_cast<UChar32>(c));
  }
  return out;
}

// ftfy._fix_encoding_one_step_and_explain, without the explanation.
icu::UnicodeString fix_encoding_one_step(const icu::UnicodeString& text) {
  if (text.isEmpty() || is_ascii(text) || !is_bad(text)) return text;
  bool latin1_possible = false;
  for (size_t codec = 0; codec < data::kCharmapCount; ++codec) {
    if (!possible_encoding(text, codec)) continue;
    latin1_possible |= codec == kLatin1;
    Bytes bytes = encode(text, codec);
    if (codec != kMacRoman && search(data::kAlteredUtf8Pattern, bytes)) bytes = restore_byte_a0(bytes);
    if (std::string_view(data::kCharmaps[codec].name).starts_with("sloppy")) bytes = replace_lossy_sequences(bytes);
    const bool variants = contains_byte(bytes, 0xED) || contains_byte(bytes, 0xC0);
    if (auto fixed = decode_utf8(bytes, variants)) return *fixed;
  }
  if (search(data::kUtf8DetectorPattern, text)) {
    icu::UnicodeString fixed = decode_inconsistent_utf8(text);
    if (fixed != text) return fixed;
  }
  // ftfy checks for "windows-1252" among the possible codecs here, but its
  // list holds only "sloppy-windows-1252", so that early return never fires.
  if (latin1_possible) {
    if (auto fixed = latin1_as_windows1252(text); fixed && *fixed != text) return *fixed;
  }
  for (int32_t i = 0; i < text.length(); ++i)
    if (text.charAt(i) >= 0x80 && text.charAt(i) <= 0x9F) return fix_c1_controls(text);
  return text;
}

}  // namespace

const icu::RegexPattern& compiled_pattern(const char* pattern) {
  static std::mutex mutex;
  static std::map<const char*, std::unique_ptr<icu::RegexPattern>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[pattern];
  if (!slot) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError where;
    slot.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(pattern), 0, where, status));
    FARM_ASSERT(U_SUCCESS(status), "ICU regex of ftfy: ", u_errorName(status), " at offset ", where.offset);
  }
  return *slot;
}

bool is_bad(const icu::UnicodeString& text) { return search(data::kBadnessPattern, text); }

icu::UnicodeString fix_encoding(const icu::UnicodeString& text) {
  icu::UnicodeString current = text;
  while (true) {
    icu::UnicodeString next = fix_encoding_one_step(current);
    if (next == current) return current;
    current = std::move(next);
  }
}

icu::UnicodeString fix_c1_controls(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length(); ++i) {
    const UChar u = text.charAt(i);
    if (u >= 0x80 && u <= 0x9F)
      out.append(static_cast<UChar32>(data::kCharmaps[kSloppy1252].to_unicode[u]));
    else
      out.append(u);
  }
  return out;
}

}  // namespace farm::text::detail
