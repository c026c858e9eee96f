#include "farm/coord/name_template.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_map>

#include "farm/coord/utf8.h"
#include "farm/core/error.h"

namespace farm {
namespace {

using Field = NameTemplate::Field;
using Piece = NameTemplate::Piece;

constexpr std::string_view kFieldList =
    "{index}, {index:N}, {seed}, {prompt}, {steps}, {sampler}, {width}, {height} or {date}";
constexpr std::string_view kPng = ".png";
constexpr int kDefaultIndexWidth = 5;
constexpr int kMaxIndexWidth = 19;  // digits of the largest int64

bool is_reserved_ascii(char32_t cp) {
  return cp == '<' || cp == '>' || cp == ':' || cp == '"' || cp == '/' || cp == '\\' || cp == '|' || cp == '?' ||
         cp == '*';
}

bool is_control(char32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

// Characters a slug turns into '_': separators, reserved and control
// characters, and what a reader cannot see (spaces of any width, direction
// overrides that make "gpj.exe" read as "exe.jpg", byte-order marks).
bool is_gap(char32_t cp) {
  if (is_control(cp) || is_reserved_ascii(cp)) return true;
  switch (cp) {
    case U' ': case 0x00A0: case 0x061C: case 0x1680: case 0x180E: case 0x200B: case 0x200E: case 0x200F:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: case 0xFEFF: case 0xFFFE: case 0xFFFF:
      return true;
    default:
      return (cp >= 0x2000 && cp <= 0x200A) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) ||
             (cp >= 0x2066 && cp <= 0x2069);
  }
}

void trim_dots_and_underscores(std::string& s) {
  const std::size_t begin = s.find_first_not_of("._");
  if (begin == std::string::npos) {
    s.clear();
    return;
  }
  s = s.substr(begin, s.find_last_not_of("._") - begin + 1);
}

// CON, PRN, AUX, NUL, COM0-9, LPT0-9 and COM/LPT with a superscript 1-3 name
// devices on Windows, with any extension and trailing spaces before it.
bool is_windows_device_name(std::string_view component) {
  std::string stem(component.substr(0, component.find('.')));
  while (!stem.empty() && stem.back() == ' ') stem.pop_back();
  for (char& c : stem) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (stem == "CON" || stem == "PRN" || stem == "AUX" || stem == "NUL") return true;
  if (stem.size() < 4 || (stem.compare(0, 3, "COM") != 0 && stem.compare(0, 3, "LPT") != 0)) return false;
  const std::string_view tail = std::string_view(stem).substr(3);
  return (tail.size() == 1 && tail[0] >= '0' && tail[0] <= '9') || tail == "\u00B9" || tail == "\u00B2" ||
         tail == "\u00B3";
}

// The most bytes a field can render to, for the template's length check.
std::size_t max_field_bytes(const Piece& p) {
  switch (p.field) {
    case Field::kLiteral: return p.literal.size();
    case Field::kIndex: return static_cast<std::size_t>(std::max(p.width, kMaxIndexWidth));
    case Field::kSeed: return 19;  // a fixed seed is 0..2^63-1
    case Field::kPrompt: return 1;  // takes what is left, but at least "_"
    case Field::kSteps: case Field::kWidth: case Field::kHeight: return 11;  // any int
    case Field::kSampler: return kMaxSamplerBytes;
    case Field::kDate: return 10;
  }
  return 0;
}

bool valid_date(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}

std::string zero_padded(std::int64_t value, int width) {
  std::string digits = std::to_string(value);
  if (digits.size() < static_cast<std::size_t>(width)) digits.insert(0, width - digits.size(), '0');
  return digits;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  [[noreturn]] void error(const std::string& what) const { fail("--name-template '", text_, "': ", what); }

  // Splits at '/', turning "{...}" into fields and "{{", "}}" into braces.
  std::vector<std::vector<Piece>> pieces(std::vector<std::string>& component_text) {
    if (const auto bad = utf8::first_invalid_byte(text_)) error(cat("invalid UTF-8 at byte ", *bad));
    std::vector<std::vector<Piece>> components(1);
    component_text.assign(1, "");
    std::string literal;
    const auto flush = [&] {
      if (!literal.empty()) components.back().push_back(Piece{Field::kLiteral, std::move(literal), 0});
      literal.clear();
    };
    for (std::size_t i = 0; i < text_.size();) {
      char32_t cp;
      const std::size_t n = utf8::decode(text_, i, cp);
      if (cp == '{' || cp == '}') {
        if (i + 1 < text_.size() && text_[i + 1] == text_[i]) {
          literal += text_[i];
          component_text.back() += text_.substr(i, 2);
          i += 2;
          continue;
        }
        if (cp == '}') error(cat("'}' at byte ", i, " closes no '{' (write '}}' for a literal brace)"));
        const std::size_t close = text_.find_first_of("{}", i + 1);
        if (close == std::string_view::npos || text_[close] != '}') {
          error(cat("'{' at byte ", i, " is not closed by '}' (write '{{' for a literal brace)"));
        }
        flush();
        components.back().push_back(field(text_.substr(i + 1, close - i - 1)));
        component_text.back() += text_.substr(i, close + 1 - i);
        i = close + 1;
      } else if (cp == '/') {
        flush();
        components.emplace_back();
        component_text.emplace_back();
        ++i;
      } else {
        if (is_control(cp)) error(cat("control character U+", hex(cp), " at byte ", i));
        if (is_reserved_ascii(cp)) {
          error(cat("'", static_cast<char>(cp), "' at byte ", i,
                    " is reserved in file names (no < > : \" \\ | ? * in a name; '/' separates folders)"));
        }
        literal.append(text_.substr(i, n));
        component_text.back() += text_.substr(i, n);
        i += n;
      }
    }
    flush();
    return components;
  }

 private:
  static std::string hex(char32_t cp) {
    char buf[8];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<unsigned>(cp), 16);
    std::string s(buf, end);
    s.insert(0, s.size() < 4 ? 4 - s.size() : 0, '0');
    for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
    return s;
  }

  Piece field(std::string_view spec) const {
    const std::size_t colon = spec.find(':');
    const std::string_view name = spec.substr(0, colon);
    static const std::unordered_map<std::string_view, Field> kFields = {
        {"index", Field::kIndex}, {"seed", Field::kSeed},       {"prompt", Field::kPrompt},
        {"steps", Field::kSteps}, {"sampler", Field::kSampler}, {"width", Field::kWidth},
        {"height", Field::kHeight}, {"date", Field::kDate},
    };
    const auto it = kFields.find(name);
    if (it == kFields.end()) error(cat("unknown field {", spec, "} (expected ", kFieldList, ")"));
    Piece p{it->second, "", kDefaultIndexWidth};
    if (colon == std::string_view::npos) return p;
    const std::string_view format = spec.substr(colon + 1);
    if (p.field != Field::kIndex) error(cat("field {", name, "} takes no format, got {", spec, "}"));
    int width = 0;
    const auto [end, ec] = std::from_chars(format.data(), format.data() + format.size(), width);
    if (format.empty() || ec != std::errc() || end != format.data() + format.size() || width < 1 ||
        width > kMaxIndexWidth) {
      error(cat("{", spec, "}: expected {index:N} with N a number of digits in 1..", kMaxIndexWidth));
    }
    p.width = width;
    return p;
  }

  std::string_view text_;
};

}  // namespace

std::string file_name_slug(std::string_view text, std::size_t max_bytes) {
  FARM_ASSERT(max_bytes >= 1, "file_name_slug needs room for one byte");
  std::string out;
  out.reserve(text.size());
  bool in_gap = false;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    std::size_t n = utf8::decode(text, i, cp);
    const bool gap = n == 0 || is_gap(cp);
    if (n == 0) n = 1;  // an ill-formed byte is a gap of its own
    if (gap) {
      if (!in_gap) out += '_';
    } else {
      out.append(text.substr(i, n));
    }
    in_gap = gap;
    i += n;
  }
  trim_dots_and_underscores(out);
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a code point
    out.resize(cut);
    trim_dots_and_underscores(out);
  }
  return out.empty() ? "_" : out;
}

NameTemplate::NameTemplate(std::string_view text) : text_(text) {
  Parser parser(text);
  if (text.empty()) parser.error(cat("is empty; expected literal text and fields such as ", kDefault));
  std::vector<std::string> component_text;
  components_ = parser.pieces(component_text);

  bool has_index = false;
  for (std::size_t c = 0; c < components_.size(); ++c) {
    const std::vector<Piece>& pieces = components_[c];
    const std::string& source = component_text[c];
    if (pieces.empty()) {
      parser.error(c == 0 ? "begins with '/': names are relative to --out"
                          : "has an empty folder name ('//' or a trailing '/')");
    }
    // Fields never render with a dot or space at either end, so literals
    // at the component's edges decide.
    const auto bad_edge = [](const Piece& p, bool front) {
      if (p.field != Field::kLiteral) return false;
      const char c = front ? p.literal.front() : p.literal.back();
      return c == '.' || c == ' ';
    };
    if (bad_edge(pieces.front(), true) || bad_edge(pieces.back(), false)) {
      parser.error(cat("'", source,
                       "' begins or ends with '.' or ' ' (expected a name that does not: '.' and '..' would leave "
                       "--out, a leading dot hides the file, Windows drops trailing dots and spaces)"));
    }
    std::size_t worst = 1 + (c + 1 == components_.size() ? kPng.size() : 0);  // 1: a device-name guard '_'
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      worst += max_field_bytes(pieces[k]);
      if (pieces[k].field != Field::kIndex) continue;
      has_index = true;
      for (const std::size_t near : {k - 1, k + 1}) {  // k - 1 wraps to a huge index when k == 0
        if (near < pieces.size() && pieces[near].field != Field::kLiteral) {
          parser.error(cat("'", source,
                           "': {index} touches another field (expected literal text between them, as in "
                           "{index}-{seed}, so that names stay unique past 99999 items)"));
        }
      }
    }
    if (worst > kMaxComponentBytes) {
      parser.error(cat("'", source, "' can be ", worst, " bytes long (expected at most ", kMaxComponentBytes,
                       " bytes per file or folder name, \".png\" included)"));
    }
  }
  if (!has_index) {
    parser.error(cat("has no {index} (expected {index} somewhere, e.g. ", kDefault,
                     ", so that every item gets its own file)"));
  }
}

std::string NameTemplate::render_component(const std::vector<Piece>& pieces, bool last, const JobItem& item,
                                           std::string_view date) const {
  std::vector<std::string> parts(pieces.size());
  std::size_t fixed = last ? kPng.size() : 0, prompts = 0;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    const Piece& p = pieces[k];
    switch (p.field) {
      case Field::kLiteral: parts[k] = p.literal; break;
      case Field::kIndex: parts[k] = zero_padded(item.index, p.width); break;
      case Field::kSeed: parts[k] = std::to_string(item.seed); break;
      case Field::kPrompt: ++prompts; break;
      case Field::kSteps: parts[k] = std::to_string(item.steps); break;
      case Field::kSampler: parts[k] = file_name_slug(item.sampler, kMaxSamplerBytes); break;
      case Field::kWidth: parts[k] = std::to_string(item.width); break;
      case Field::kHeight: parts[k] = std::to_string(item.height); break;
      case Field::kDate:
        FARM_ASSERT(valid_date(date), "name template date must be YYYY-MM-DD, got '", date, "'");
        parts[k] = date;
        break;
    }
    fixed += parts[k].size();
  }
  if (prompts > 0) {
    // 1 byte stays free for the device-name guard; the constructor checked the rest fits.
    FARM_ASSERT(fixed + 1 + prompts <= kMaxComponentBytes, "name template component overflows: ", fixed);
    const std::string slug = file_name_slug(item.prompt, (kMaxComponentBytes - 1 - fixed) / prompts);
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      if (pieces[k].field == Field::kPrompt) parts[k] = slug;
    }
  }
  std::string out;
  for (const std::string& part : parts) out += part;
  if (last) out += kPng;
  if (is_windows_device_name(out)) out.insert(0, 1, '_');
  return out;
}

std::string NameTemplate::file_name(const JobItem& item, std::string_view date) const {
  FARM_ASSERT(item.index >= 0, "item index ", item.index);
  FARM_ASSERT(item.seed >= 0, "item ", item.index, " is named before its random seed was drawn");
  std::string path;
  for (std::size_t c = 0; c < components_.size(); ++c) {
    if (c > 0) path += '/';
    path += render_component(components_[c], c + 1 == components_.size(), item, date);
  }
  return path;
}

std::vector<std::string> NameTemplate::file_names(const std::vector<JobItem>& items, std::string_view date) const {
  std::vector<std::string> names;
  names.reserve(items.size());
  std::unordered_map<std::string, std::size_t> seen;  // ASCII-lowercased name -> position in items
  for (std::size_t i = 0; i < items.size(); ++i) {
    names.push_back(file_name(items[i], date));
    std::string folded = names.back();
    for (char& ch : folded) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    const auto [it, inserted] = seen.emplace(std::move(folded), i);
    if (!inserted) {
      const JobItem& a = items[it->second];
      fail("--name-template '", text_, "': ", a.source, ":", a.line, " and ", items[i].source, ":", items[i].line,
           " would both be written to ", names.back(),
           " (expected a template that names every item apart, e.g. with {index} in the file name)");
    }
  }
  return names;
}

}  // namespace farm
