#include "farm/text/qwen_pretokenizer.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "farm/core/error.h"

namespace farm::text {
namespace {

// Letters and numbers that Unicode after 14.0 assigned (15.0 to 16.0), as
// ranges: Oniguruma in the tokenizers library transformers runs knows Unicode
// 16.0, Debian 12's ICU 72 only 15.0. Used only where this ICU says
// "unassigned", so a newer ICU gives the same classes. From
// tests/data/tokenizer/qwen_regex_classes.json (code points that are \p{L} or
// \p{N} there and unassigned in Python's Unicode 14.0 tables).
struct NewerRange {
  char32_t first, last;
  QwenCharClass cls;
};
constexpr NewerRange kNewerLettersAndNumbers[] = {
    {0x1C89, 0x1C8A, QwenCharClass::kLetter}, {0xA7CB, 0xA7CD, QwenCharClass::kLetter},
    {0xA7DA, 0xA7DC, QwenCharClass::kLetter}, {0x105C0, 0x105F3, QwenCharClass::kLetter},
    {0x10D40, 0x10D49, QwenCharClass::kNumber}, {0x10D4A, 0x10D65, QwenCharClass::kLetter},
    {0x10D6F, 0x10D85, QwenCharClass::kLetter}, {0x10EC2, 0x10EC4, QwenCharClass::kLetter},
    {0x1123F, 0x11240, QwenCharClass::kLetter}, {0x11380, 0x11389, QwenCharClass::kLetter},
    {0x1138B, 0x1138B, QwenCharClass::kLetter}, {0x1138E, 0x1138E, QwenCharClass::kLetter},
    {0x11390, 0x113B5, QwenCharClass::kLetter}, {0x113B7, 0x113B7, QwenCharClass::kLetter},
    {0x113D1, 0x113D1, QwenCharClass::kLetter}, {0x113D3, 0x113D3, QwenCharClass::kLetter},
    {0x116D0, 0x116E3, QwenCharClass::kNumber}, {0x11BC0, 0x11BE0, QwenCharClass::kLetter},
    {0x11BF0, 0x11BF9, QwenCharClass::kNumber}, {0x11F02, 0x11F02, QwenCharClass::kLetter},
    {0x11F04, 0x11F10, QwenCharClass::kLetter}, {0x11F12, 0x11F33, QwenCharClass::kLetter},
    {0x11F50, 0x11F59, QwenCharClass::kNumber}, {0x1342F, 0x1342F, QwenCharClass::kLetter},
    {0x13441, 0x13446, QwenCharClass::kLetter}, {0x13460, 0x143FA, QwenCharClass::kLetter},
    {0x16100, 0x1611D, QwenCharClass::kLetter}, {0x16130, 0x16139, QwenCharClass::kNumber},
    {0x16D40, 0x16D6C, QwenCharClass::kLetter}, {0x16D70, 0x16D79, QwenCharClass::kNumber},
    {0x18CFF, 0x18CFF, QwenCharClass::kLetter}, {0x1B132, 0x1B132, QwenCharClass::kLetter},
    {0x1B155, 0x1B155, QwenCharClass::kLetter}, {0x1CCF0, 0x1CCF9, QwenCharClass::kNumber},
    {0x1D2C0, 0x1D2D3, QwenCharClass::kNumber}, {0x1DF25, 0x1DF2A, QwenCharClass::kLetter},
    {0x1E030, 0x1E06D, QwenCharClass::kLetter}, {0x1E4D0, 0x1E4EB, QwenCharClass::kLetter},
    {0x1E4F0, 0x1E4F9, QwenCharClass::kNumber}, {0x1E5D0, 0x1E5ED, QwenCharClass::kLetter},
    {0x1E5F0, 0x1E5F0, QwenCharClass::kLetter}, {0x1E5F1, 0x1E5FA, QwenCharClass::kNumber},
    {0x2B739, 0x2B739, QwenCharClass::kLetter}, {0x2EBF0, 0x2EE5D, QwenCharClass::kLetter},
    {0x31350, 0x323AF, QwenCharClass::kLetter},
};

QwenCharClass newer_class(char32_t cp) {
  for (const NewerRange& r : kNewerLettersAndNumbers)
    if (cp >= r.first && cp <= r.last) return r.cls;
  return QwenCharClass::kOther;
}

bool is_space(QwenCharClass k) { return k == QwenCharClass::kSpace || k == QwenCharClass::kNewline; }

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at `at` (a quote): its length in code points,
// 0 when none matches. Case-insensitive by simple case folding, as Oniguruma
// (so "'ſ" counts: U+017F folds to 's').
size_t contraction(const std::vector<char32_t>& cps, size_t at) {
  auto folded = [&](size_t k) -> char32_t {
    return k < cps.size() ? static_cast<char32_t>(u_foldCase(static_cast<UChar32>(cps[k]), U_FOLD_CASE_DEFAULT))
                          : 0;
  };
  const char32_t a = folded(at + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  const char32_t b = folded(at + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace

QwenCharClass qwen_char_class(char32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) return QwenCharClass::kSurrogate;
  if (cp == '\r' || cp == '\n') return QwenCharClass::kNewline;
  const auto c = static_cast<UChar32>(cp);
  if (u_isUWhiteSpace(c)) return QwenCharClass::kSpace;
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return QwenCharClass::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return QwenCharClass::kNumber;
    case U_UNASSIGNED:
      return newer_class(cp);
    default:
      return QwenCharClass::kOther;
  }
}

std::vector<std::string> qwen_pretokenize(std::string_view text) {
  if (text.size() > static_cast<size_t>(INT32_MAX)) fail("prompt of ", text.size(), " bytes: too long to tokenize");
  std::vector<char32_t> cps;
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    cps.push_back(c < 0 ? 0xFFFD : static_cast<char32_t>(c));
  }
  std::vector<QwenCharClass> cls(cps.size());
  for (size_t k = 0; k < cps.size(); ++k) cls[k] = qwen_char_class(cps[k]);
  const size_t n = cps.size();
  auto run_of = [&](size_t k, auto&& pred) {
    while (k < n && pred(cls[k])) ++k;
    return k;
  };
  auto letter = [](QwenCharClass c) { return c == QwenCharClass::kLetter; };
  auto other = [](QwenCharClass c) { return c == QwenCharClass::kOther; };
  auto newline = [](QwenCharClass c) { return c == QwenCharClass::kNewline; };

  std::vector<std::string> words;
  for (size_t p = 0; p < n;) {
    const QwenCharClass c = cls[p];
    const QwenCharClass next = p + 1 < n ? cls[p + 1] : QwenCharClass::kSurrogate;
    size_t end = p;
    if (cps[p] == '\'' && contraction(cps, p) > 0) {
      end = p + contraction(cps, p);
    } else if (c == QwenCharClass::kLetter) {  // [^\r\n\p{L}\p{N}]?\p{L}+
      end = run_of(p, letter);
    } else if (c != QwenCharClass::kNewline && c != QwenCharClass::kNumber && next == QwenCharClass::kLetter) {
      end = run_of(p + 1, letter);
    } else if (c == QwenCharClass::kNumber) {  // \p{N}
      end = p + 1;
    } else if (c == QwenCharClass::kOther || (cps[p] == ' ' && next == QwenCharClass::kOther)) {
      end = run_of(run_of(c == QwenCharClass::kOther ? p : p + 1, other), newline);  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    } else {
      // Whitespace: \s*[\r\n]+ ends at the run's last newline; else
      // \s+(?!\S) leaves the run's last character to the next word; else \s+.
      const size_t run = run_of(p, is_space);
      FARM_ASSERT(run > p, "every code point is a letter, number, space or other");
      size_t last_newline = run;
      for (size_t k = p; k < run; ++k)
        if (cls[k] == QwenCharClass::kNewline) last_newline = k;
      if (last_newline < run) {
        end = last_newline + 1;
      } else if (run == n || run - p == 1) {
        end = run;
      } else {
        end = run - 1;
      }
    }
    std::string word;
    for (size_t k = p; k < end; ++k) {
      char buf[4];
      int32_t len = 0;
      U8_APPEND_UNSAFE(reinterpret_cast<uint8_t*>(buf), len, static_cast<UChar32>(cps[k]));  // scalar values only
      word.append(buf, static_cast<size_t>(len));
    }
    words.push_back(std::move(word));
    p = end;
  }
  return words;
}

}  // namespace farm::text
