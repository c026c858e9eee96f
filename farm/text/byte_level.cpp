#include "farm/text/byte_level.h"

#include <algorithm>

namespace farm::text {
namespace {

std::string utf8_of(char32_t cp) {  // byte characters are below U+0144
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::array<std::string, 256> make_byte_chars() {
  std::array<std::string, 256> chars;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    chars[static_cast<size_t>(b)] = utf8_of(printable ? static_cast<char32_t>(b) : next++);
  }
  return chars;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  static const std::array<std::string, 256> chars = make_byte_chars();
  return chars;
}

std::string byte_level_bytes(std::string_view token) {
  static const std::unordered_map<std::string, uint8_t> inverse = [] {
    std::unordered_map<std::string, uint8_t> m;
    for (int b = 0; b < 256; ++b) m.emplace(byte_level_chars()[static_cast<size_t>(b)], static_cast<uint8_t>(b));
    return m;
  }();
  std::string out;
  for (size_t k = 0; k < token.size();) {
    const auto c = static_cast<unsigned char>(token[k]);
    const size_t n = std::min(token.size() - k, size_t{c < 0x80 ? 1u : c < 0xE0 ? 2u : c < 0xF0 ? 3u : 4u});
    const auto it = inverse.find(std::string(token.substr(k, n)));
    if (it != inverse.end()) {
      out += static_cast<char>(it->second);
    } else {
      out.append(token.substr(k, n));
    }
    k += n;
  }
  return out;
}

void BpeMerges::apply(std::vector<int32_t>& symbols) const {
  std::vector<int32_t> next;
  while (symbols.size() > 1) {
    const Merge* best = nullptr;
    int32_t first = 0;
    int32_t second = 0;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      const auto it = merges_.find(key(symbols[k], symbols[k + 1]));
      if (it != merges_.end() && (best == nullptr || it->second.rank < best->rank)) {
        best = &it->second;
        first = symbols[k];
        second = symbols[k + 1];
      }
    }
    if (best == nullptr) break;
    next.clear();
    for (size_t k = 0; k < symbols.size();) {
      if (k + 1 < symbols.size() && symbols[k] == first && symbols[k + 1] == second) {
        next.push_back(best->merged);
        k += 2;
      } else {
        next.push_back(symbols[k++]);
      }
    }
    symbols.swap(next);
  }
}

void AddedTokenSplitter::add(std::string text, int64_t id) {
  if (text.empty()) return;
  for (const Entry& e : tokens_)
    if (e.text == text) return;
  tokens_.push_back({std::move(text), id});
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
}

const AddedTokenSplitter::Entry* AddedTokenSplitter::match(std::string_view text, size_t at) const {
  for (const Entry& e : tokens_)
    if (text.compare(at, e.text.size(), e.text) == 0) return &e;
  return nullptr;
}

}  // namespace farm::text
