#include "farm/text/clip_pretokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <array>
#include <climits>
#include <cstring>

#include "farm/core/error.h"
#include "farm/text/text_fix.h"

namespace farm::text {
namespace {

// transformers reads categories from Python's unicodedata; the references were
// made with Python 3.11, which has Unicode 14.0. A code point assigned later is
// 'Cn' there, so clean_text drops it (e.g. the Unicode 15 emoji U+1FAE8), even
// though this ICU knows it.
bool assigned_after_reference_unicode(char32_t cp) {
  static constexpr std::array<uint8_t, U_MAX_VERSION_LENGTH> kReference = {14, 0, 0, 0};
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(cp), age);
  return std::memcmp(age, kReference.data(), U_MAX_VERSION_LENGTH) > 0;
}

// BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks only
// (not kana or hangul).
bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_word_class(ClipCharClass c) { return c == ClipCharClass::kLetter || c == ClipCharClass::kCjk; }

// The regex's literal branches under IGNORECASE compare simple case folds, so
// U+017F LONG S matches the 's' of "'s".
bool matches_folded(const std::u32string& text, size_t at, std::string_view literal) {
  if (text.size() - at < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    const auto folded = u_foldCase(static_cast<UChar32>(text[at + k]), U_FOLD_CASE_DEFAULT);
    if (folded != static_cast<UChar32>(static_cast<unsigned char>(literal[k]))) return false;
  }
  return true;
}

// Length of the branch of the CLIP regex that matches at `at`, 0 if none.
size_t match_length(const std::u32string& text, const std::vector<ClipCharClass>& cls, size_t at) {
  static constexpr std::string_view kSpecials[] = {"<|startoftext|>", "<|endoftext|>"};
  static constexpr std::string_view kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  for (auto lit : kSpecials)
    if (matches_folded(text, at, lit)) return lit.size();
  for (auto lit : kContractions)
    if (matches_folded(text, at, lit)) return lit.size();
  size_t end = at;
  switch (cls[at]) {
    case ClipCharClass::kLetter:
    case ClipCharClass::kCjk:
      while (end < text.size() && is_word_class(cls[end])) ++end;
      return end - at;
    case ClipCharClass::kNumber:
      return 1;
    case ClipCharClass::kOther:
    case ClipCharClass::kDropped:  // cannot survive clean_text; [^\s\p{L}\p{N}] would take it
      while (end < text.size() &&
             (cls[end] == ClipCharClass::kOther || cls[end] == ClipCharClass::kDropped))
        ++end;
      return end - at;
    case ClipCharClass::kSpace:
    case ClipCharClass::kNone:
    case ClipCharClass::kSurrogate:
      return 0;
  }
  return 0;
}

std::string to_utf8(const std::u32string& text, size_t begin, size_t end) {
  std::string out;
  out.reserve(4 * (end - begin));
  for (size_t k = begin; k < end; ++k) {
    uint8_t buf[U8_MAX_LENGTH];
    int32_t n = 0;
    U8_APPEND_UNSAFE(buf, n, static_cast<UChar32>(text[k]));
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

// Python's str.lower: full mappings (İ -> i + U+0307) and final sigma, no
// locale rules.
icu::UnicodeString python_lower(icu::UnicodeString text) { return text.toLower(icu::Locale::getRoot()); }

// clean_text + CJK spacing + NFC + whitespace split/join + lowercase.
icu::UnicodeString basic_tokenize(std::string_view chunk) {
  if (chunk.size() > static_cast<size_t>(INT32_MAX) / 4)
    fail("prompt of ", chunk.size(), " bytes: too long to tokenize");
  const auto* bytes = reinterpret_cast<const uint8_t*>(chunk.data());
  const auto length = static_cast<int32_t>(chunk.size());
  icu::UnicodeString cleaned;
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) c = 0xFFFD;  // as Python's decode(errors="replace") would give
    switch (clip_char_class(static_cast<char32_t>(c))) {
      case ClipCharClass::kDropped:
      case ClipCharClass::kSurrogate:
        break;
      case ClipCharClass::kSpace:
        cleaned.append(static_cast<UChar>(' '));
        break;
      case ClipCharClass::kCjk:
        cleaned.append(static_cast<UChar>(' ')).append(c).append(static_cast<UChar>(' '));
        break;
      default:
        cleaned.append(c);
    }
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC data: ", u_errorName(status));
  const icu::UnicodeString normal = nfc->normalize(cleaned, status);
  FARM_ASSERT(U_SUCCESS(status), "ICU NFC: ", u_errorName(status));

  // str.split() then " ".join(): single spaces, none at the ends. Only ' '
  // is left as whitespace: clean_text mapped the rest to it, NFC adds none.
  icu::UnicodeString joined;
  for (int32_t i = 0; i < normal.length(); ++i) {
    const UChar u = normal.charAt(i);
    if (u == ' ' && (joined.isEmpty() || joined.charAt(joined.length() - 1) == ' ')) continue;
    joined.append(u);
  }
  if (!joined.isEmpty() && joined.charAt(joined.length() - 1) == ' ') joined.truncate(joined.length() - 1);
  // Lowering per piece equals lowering the joined text since case context
  // never crosses a space.
  return python_lower(joined);
}

// Python's str.isspace: category Zs or bidi class WS, B or S.
bool is_python_space(char32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const UCharDirection d = u_charDirection(c);
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR;
}

// whitespace_clean(ftfy.fix_text(chunk)).lower().
icu::UnicodeString ftfy_clean(std::string_view chunk) {
  const std::string fixed = fix_text(chunk);
  const icu::UnicodeString text = icu::UnicodeString::fromUTF8(fixed);
  icu::UnicodeString cleaned;
  bool in_space = false;
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (is_python_space(static_cast<char32_t>(c))) {
      in_space = true;
      continue;
    }
    if (in_space && !cleaned.isEmpty()) cleaned.append(static_cast<UChar>(' '));
    in_space = false;
    cleaned.append(c);
  }
  return python_lower(cleaned);
}

// What the CLIP regex makes of a code point that is not a space: a letter,
// a number, other, or (U+0345) nothing.
ClipCharClass regex_class(char32_t cp) {
  // COMBINING GREEK YPOGEGRAMMENI is Mn, but case-folds to iota: under
  // IGNORECASE the negated class [^\s\p{L}\p{N}] rejects it while [\p{L}]
  // does not take it, so the regex skips it (and it splits a word).
  if (cp == 0x0345) return ClipCharClass::kNone;
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return ClipCharClass::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return ClipCharClass::kNumber;
    default:
      return ClipCharClass::kOther;
  }
}

}  // namespace

ClipCharClass clip_char_class(char32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) return ClipCharClass::kSurrogate;
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return ClipCharClass::kSpace;
  if (cp == 0 || cp == 0xFFFD || cp > 0x10FFFF) return ClipCharClass::kDropped;
  if (assigned_after_reference_unicode(cp)) return ClipCharClass::kDropped;
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
    case U_UNASSIGNED:
      return ClipCharClass::kDropped;
    case U_SPACE_SEPARATOR:      // _is_whitespace
    case U_LINE_SEPARATOR:       // str.split() also breaks at U+2028
    case U_PARAGRAPH_SEPARATOR:  // and U+2029
      return ClipCharClass::kSpace;
    default:
      break;
  }
  if (is_cjk_ideograph(cp)) return ClipCharClass::kCjk;
  return regex_class(cp);
}

ClipCharClass clip_regex_char_class(char32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) return ClipCharClass::kSurrogate;
  if (cp > 0x10FFFF) return ClipCharClass::kOther;
  if (is_python_space(cp)) return ClipCharClass::kSpace;
  return regex_class(cp);
}

std::vector<std::string> clip_pretokenize(std::string_view chunk, bool fix_text) {
  const icu::UnicodeString lowered = fix_text ? ftfy_clean(chunk) : basic_tokenize(chunk);
  std::u32string text;
  text.reserve(static_cast<size_t>(lowered.length()));
  for (int32_t i = 0; i < lowered.length(); i = lowered.moveIndex32(i, 1))
    text.push_back(static_cast<char32_t>(lowered.char32At(i)));
  std::vector<ClipCharClass> cls(text.size());
  for (size_t k = 0; k < text.size(); ++k)
    cls[k] = fix_text ? clip_regex_char_class(text[k]) : clip_char_class(text[k]);

  std::vector<std::string> words;
  for (size_t at = 0; at < text.size();) {
    const size_t n = match_length(text, cls, at);
    if (n == 0) {
      ++at;
      continue;
    }
    words.push_back(to_utf8(text, at, at + n));
    at += n;
  }
  return words;
}

}  // namespace farm::text
