#include "farm/text/prompt_attention.h"

#include <cctype>
#include <charconv>

#include "farm/core/error.h"

namespace farm::text {
namespace {

// Python's \s for the characters prompts hold (ASCII whitespace).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Python's \w in a str pattern; any non-ASCII byte counts as a letter's (most are).
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) || c == '_';
}
bool is_digit_or_dot(char c) { return c == '.' || (c >= '0' && c <= '9'); }

// At s[i] == ':', the weight close ":\s*([+-]?[.\d]+)\s*\)": its length and
// the number's text, or 0.
size_t match_weight(std::string_view s, size_t i, std::string_view& number) {
  size_t j = i + 1;
  while (j < s.size() && is_space(s[j])) ++j;
  const size_t start = j;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  const size_t digits = j;
  while (j < s.size() && is_digit_or_dot(s[j])) ++j;
  if (j == digits) return 0;
  number = s.substr(start, j - start);
  while (j < s.size() && is_space(s[j])) ++j;
  if (j >= s.size() || s[j] != ')') return 0;
  return j + 1 - i;
}

double parse_weight(std::string_view number, std::string_view prompt) {
  std::string_view t = number;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty() || t[0] == '+')
    fail("prompt weight '", number, "' is not a number (in \"", prompt, "\"); write (text:1.2), or \\( \\) for ",
         "literal brackets");
  return v;
}

// Where the whole word BREAK (and the whitespace around it) is, as
// re.split(r"\s*\bBREAK\b\s*") finds it: [begin, end) ranges, left to right.
std::vector<std::pair<size_t, size_t>> find_breaks(std::string_view t) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t k = t.find("BREAK"); k != std::string_view::npos; k = t.find("BREAK", k + 1)) {
    if (!out.empty() && k < out.back().second) continue;
    const bool left_ok = k == 0 || !is_word(t[k - 1]);
    const bool right_ok = k + 5 == t.size() || !is_word(t[k + 5]);
    if (!left_ok || !right_ok) continue;
    size_t b = k, e = k + 5;
    const size_t floor = out.empty() ? 0 : out.back().second;
    while (b > floor && is_space(t[b - 1])) --b;
    while (e < t.size() && is_space(t[e])) ++e;
    out.emplace_back(b, e);
  }
  return out;
}

}  // namespace

std::vector<PromptPiece> parse_prompt_attention(std::string_view s) {
  std::vector<PromptPiece> res;
  std::vector<size_t> round, square;
  const auto multiply_range = [&](size_t start, double m) {
    for (size_t p = start; p < res.size(); ++p)
      if (!res[p].is_break) res[p].weight *= m;
  };
  const auto add_text = [&](std::string_view t) {
    size_t at = 0;
    for (const auto& [b, e] : find_breaks(t)) {
      res.push_back({std::string(t.substr(at, b - at)), 1.0, false});
      res.push_back({"", 1.0, true});
      at = e;
    }
    res.push_back({std::string(t.substr(at)), 1.0, false});
  };
  const double round_mul = 1.1, square_mul = 1 / 1.1;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\') {  // \( \) \[ \] \\ are the character; a lone backslash is dropped (as A1111)
      const bool pair = i + 1 < s.size() && std::string_view("()[]\\").find(s[i + 1]) != std::string_view::npos;
      res.push_back({pair ? std::string(1, s[i + 1]) : std::string(), 1.0, false});
      i += pair ? 2 : 1;
    } else if (c == '(') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (c == ':') {
      std::string_view number;
      const size_t len = match_weight(s, i, number);
      if (len && !round.empty()) {
        multiply_range(round.back(), parse_weight(number, s));
        round.pop_back();
      } else {
        add_text(s.substr(i, len ? len : 1));  // ":1.5)" with nothing open, or a lone ':'
      }
      i += len ? len : 1;
    } else if (c == ')' && !round.empty()) {
      multiply_range(round.back(), round_mul);
      round.pop_back();
      ++i;
    } else if (c == ']' && !square.empty()) {
      multiply_range(square.back(), square_mul);
      square.pop_back();
      ++i;
    } else if (c == ')' || c == ']') {
      add_text(s.substr(i, 1));
      ++i;
    } else {
      size_t j = i;
      while (j < s.size() && std::string_view("\\()[]:").find(s[j]) == std::string_view::npos) ++j;
      add_text(s.substr(i, j - i));
      i = j;
    }
  }
  // Unclosed brackets close at the end (in the order they opened, as A1111).
  for (const size_t p : round) multiply_range(p, round_mul);
  for (const size_t p : square) multiply_range(p, square_mul);
  if (res.empty()) res.push_back({"", 1.0, false});
  // Neighbouring pieces of equal weight become one (BREAKs stay apart).
  std::vector<PromptPiece> merged;
  for (auto& p : res) {
    if (!merged.empty() && !p.is_break && !merged.back().is_break && merged.back().weight == p.weight)
      merged.back().text += p.text;
    else
      merged.push_back(std::move(p));
  }
  return merged;
}

std::string strip_extra_networks(std::string_view s, std::vector<ExtraNetworkTag>* tags) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '<') {
      size_t j = i + 1;
      while (j < s.size() && is_word(s[j])) ++j;
      const size_t colon = j;
      if (colon > i + 1 && colon < s.size() && s[colon] == ':') {
        const size_t close = s.find('>', colon + 1);
        if (close != std::string_view::npos && close > colon + 1) {
          if (tags) {
            ExtraNetworkTag t;
            t.kind = std::string(s.substr(i + 1, colon - i - 1));
            std::string_view args = s.substr(colon + 1, close - colon - 1);
            for (size_t a = 0;;) {
              const size_t b = args.find(':', a);
              t.args.emplace_back(args.substr(a, b == std::string_view::npos ? std::string_view::npos : b - a));
              if (b == std::string_view::npos) break;
              a = b + 1;
            }
            tags->push_back(std::move(t));
          }
          i = close + 1;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

}  // namespace farm::text
