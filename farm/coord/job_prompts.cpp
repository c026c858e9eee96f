// load_prompts: items from a .txt, .jsonl or .csv prompt file, layered over
// the defaults and validated line by line.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <string_view>

#include "farm/coord/atomic_file.h"
#include "farm/coord/csv_records.h"
#include "farm/coord/job.h"
#include "farm/coord/job_fields.h"
#include "farm/coord/job_loras.h"
#include "farm/coord/utf8.h"
#include "farm/core/error.h"
#include "farm/sched/sampler.h"
#include "farm/text/prompt_attention.h"

namespace farm {
namespace {

using nlohmann::json;
using SamplerKnown = std::function<bool(const std::string&)>;

constexpr std::size_t kMaxReportedErrors = 20;

// Collects every error of the file so one run shows them all.
class ErrorList {
 public:
  explicit ErrorList(std::string path) : path_(std::move(path)) {}
  void add(int line, std::string_view field, const std::string& what) {
    if (messages_.size() < kMaxReportedErrors) {
      messages_.push_back(field.empty() ? cat(path_, ":", line, ": ", what)
                                        : cat(path_, ":", line, ": field '", field, "': ", what));
    }
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  void throw_if_any() const {
    if (count_ == 0) return;
    if (count_ == 1) throw Error(messages_.front());
    std::string text = cat(count_, " errors in job ", path_, ":");
    for (const std::string& m : messages_) text += "\n  " + m;
    if (count_ > messages_.size()) text += cat("\n  (and ", count_ - messages_.size(), " more)");
    throw Error(text);
  }

 private:
  std::string path_;
  std::vector<std::string> messages_;
  std::size_t count_ = 0;
};

struct Line {
  std::string_view text;
  int number;  // 1-based
};

// Lines without their '\n' and trailing '\r'; a leading UTF-8 BOM is dropped.
std::vector<Line> split_lines(std::string_view content) {
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  std::vector<Line> lines;
  int number = 0;
  while (!content.empty()) {
    const std::size_t end = std::min(content.find('\n'), content.size());
    std::string_view text = content.substr(0, end);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    lines.push_back({text, ++number});
    content.remove_prefix(std::min(end + 1, content.size()));
  }
  return lines;
}

constexpr std::string_view kSpace = " \t\r\n\f\v";

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

JobItem item_from_defaults(const JobDefaults& d, const std::string& source, int line) {
  JobItem item;
  item.source = source;
  item.line = line;
  item.negative_prompt = d.negative_prompt;
  item.seed = d.seed;
  item.steps = d.steps;
  item.guidance = d.guidance;
  item.width = d.width;
  item.height = d.height;
  item.sampler = d.sampler;
  item.clip_skip = d.clip_skip;
  item.reading = d.reading;
  item.count = d.count;
  item.refiner = d.refiner;
  item.refiner_switch = d.refiner_switch;
  item.aesthetic_score = d.aesthetic_score;
  item.negative_aesthetic_score = d.negative_aesthetic_score;
  return item;
}

// "" or why the prompt's (text:weight) brackets cannot be read.
std::string attention_error(const std::string& prompt) {
  try {
    text::parse_prompt_attention(text::strip_extra_networks(prompt, nullptr));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Every field of the item against the same rules the TOML defaults obey.
void check_item(const JobItem& item, const SamplerKnown& sampler_known, ErrorList& errors) {
  const auto check = [&](std::string_view field, const std::string& why) {
    if (!why.empty()) errors.add(item.line, field, why);
  };
  check("prompt", job_fields::check_prompt(item.prompt, true));  // "": an unconditional image, as diffusers
  check("negative_prompt", job_fields::check_prompt(item.negative_prompt, true));
  check("seed", job_fields::check_seed(item.seed));
  check("steps", job_fields::check_steps(item.steps));
  check("guidance", job_fields::check_guidance(item.guidance));
  check("width", job_fields::check_side(item.width));
  check("height", job_fields::check_side(item.height));
  check("clip_skip", job_fields::check_clip_skip(item.clip_skip));
  if (!sampler_known(item.sampler))
    check("sampler", cat("unknown sampler '", item.sampler, "' (expected one of ", sched::sampler_names_list(), ")"));
  check("count", job_fields::check_count(item.count));
  check("loras", check_loras(item.loras));
  if (item.reading.syntax == text::PromptSyntax::a1111) {
    // Short prompts are first parsed when their micro-batch is encoded: a
    // weight that is not a number must end the job here, naming its line.
    check("prompt", attention_error(item.prompt));
    check("negative_prompt", attention_error(item.negative_prompt));
    std::vector<ItemLora> in_negative;
    check("negative_prompt", prompt_loras(item.negative_prompt, in_negative));
    if (!in_negative.empty())
      check("negative_prompt", cat("<lora:", in_negative[0].name, ":...>: LoRAs apply to the whole image; put the tag ",
                                   "in the prompt"));
  }
}

// The prompt's <lora:...> tags (A1111 syntax) ahead of the `loras` field's.
void take_prompt_loras(JobItem& item, ErrorList& errors) {
  if (item.reading.syntax != text::PromptSyntax::a1111) return;
  std::vector<ItemLora> tags;
  if (std::string why = prompt_loras(item.prompt, tags); !why.empty()) errors.add(item.line, "prompt", why);
  item.loras.insert(item.loras.begin(), tags.begin(), tags.end());
}

// A line with count N is N items (copy 0..N-1): seeds seed, seed+1, ... (a
// random seed: the first copy's derived seed + copy, see job_seeds.h).
void add_copies(JobItem item, std::vector<JobItem>& items, ErrorList& errors) {
  constexpr size_t kMaxItems = 10'000'000;  // a job's journal and plan stay in memory
  if (items.size() + static_cast<size_t>(item.count) > kMaxItems) {
    errors.add(item.line, "count", cat("the job would have more than ", kMaxItems, " images; split the prompt file"));
    return;
  }
  for (int k = 0; k < item.count; ++k) {
    JobItem c = item;
    c.copy = k;
    if (item.seed != -1) {
      c.seed = item.seed + k;
      if (std::string why = job_fields::check_seed(c.seed); !why.empty()) {
        errors.add(item.line, "seed", cat("seed + ", k, " (count ", item.count, "): ", why));
        return;
      }
    }
    c.index = static_cast<std::int64_t>(items.size());
    items.push_back(std::move(c));
  }
}

// JSON readers: on a type or range error they record it and leave `out` alone.
struct FieldReader {
  ErrorList& errors;
  int line;

  bool string(const json& v, std::string_view field, std::string& out) const {
    if (!v.is_string()) {
      errors.add(line, field, cat("expected a string, got ", v.type_name()));
      return false;
    }
    out = v.get<std::string>();
    return true;
  }

  bool integer(const json& v, std::string_view field, std::int64_t& out) const {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
      errors.add(line, field, cat("integer ", v.dump(), " is out of range"));
      return false;
    }
    if (!v.is_number_integer()) {
      errors.add(line, field, cat("expected an integer, got ", v.is_number() ? v.dump() : v.type_name()));
      return false;
    }
    out = v.get<std::int64_t>();
    return true;
  }

  // Range first, so the value always fits the int it is stored in.
  void small_integer(const json& v, std::string_view field, std::string (*check)(std::int64_t), int& out) const {
    std::int64_t value;
    if (!integer(v, field, value)) return;
    if (std::string why = check(value); !why.empty()) {
      errors.add(line, field, why);
      return;
    }
    out = static_cast<int>(value);
  }
};

constexpr std::string_view kJsonFields =
    "prompt, negative_prompt, seed, steps, guidance, width, height, sampler, clip_skip, count, loras, "
    "original_size, crops_coords_top_left, target_size, refiner, refiner_switch, aesthetic_score, "
    "negative_aesthetic_score";

// SDXL's size conditioning: [height, width] or [top, left], two integers.
void read_size_condition(const json& v, std::string_view field, int line, ErrorList& errors,
                         std::array<int, 2>& out) {
  const bool crop = field == "crops_coords_top_left";
  const char* shape = crop ? "[top, left]" : "[height, width]";
  if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer())
    return errors.add(line, field, cat("expected ", shape, " (two integers), got ", v.dump()));
  const std::int64_t a = v[0].get<std::int64_t>(), b = v[1].get<std::int64_t>();
  if (std::string why = job_fields::check_size_condition(a, b, crop); !why.empty()) return errors.add(line, field, why);
  out = {static_cast<int>(a), static_cast<int>(b)};
}

// "loras": [{"name": "x", "weight": 0.8}, ...] (weight 1 when left out).
void read_loras(const json& v, int line, ErrorList& errors, std::vector<ItemLora>& out) {
  const char* shape = "expected a list of {\"name\": string, \"weight\": number}";
  if (!v.is_array()) return errors.add(line, "loras", cat(shape, ", got ", v.type_name()));
  for (const auto& e : v) {
    ItemLora l;
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      return errors.add(line, "loras", cat(shape, "; an entry is ", e.dump()));
    for (const auto& [k, x] : e.items())
      if (k != "name" && k != "weight") return errors.add(line, "loras", cat("entry key '", k, "': ", shape));
    l.name = e["name"].get<std::string>();
    if (e.contains("weight")) {
      if (!e["weight"].is_number()) return errors.add(line, "loras", cat("weight of '", l.name, "': ", shape));
      l.weight = e["weight"].get<double>();
    }
    out.push_back(std::move(l));
  }
}

// nlohmann's what() reads "[json.exception.parse_error.101] parse error at line 1,
// column 15: syntax error ..."; a .jsonl line is always line 1 of its own parse,
// so keep the column and the reason only.
std::string json_error_text(const json::exception& e) {
  std::string_view what = e.what();
  if (const std::size_t tag_end = what.find("] "); what.starts_with("[json.") && tag_end != what.npos) {
    what.remove_prefix(tag_end + 2);
  }
  if (const auto* parse = dynamic_cast<const json::parse_error*>(&e)) {
    if (const std::size_t colon = what.find(": "); what.starts_with("parse error") && colon != what.npos) {
      what.remove_prefix(colon + 2);
    }
    return cat("malformed JSON at column ", parse->byte, ": ", what);
  }
  return cat("malformed JSON: ", what);
}

// The fields of one item's JSON object over its defaults; false (errors
// recorded) when it has no usable prompt.
bool fill_item(const json& object, int line_number, ErrorList& errors, JobItem& item);

// One .jsonl line; returns false (errors recorded) when it yields no item.
bool parse_json_line(const Line& line, ErrorList& errors, JobItem& item) {
  json object;
  std::set<std::string> keys, duplicates;
  try {
    object = json::parse(line.text, [&](int depth, json::parse_event_t event, json& parsed) {
      if (depth == 1 && event == json::parse_event_t::key && !keys.insert(parsed.get<std::string>()).second) {
        duplicates.insert(parsed.get<std::string>());
      }
      return true;
    });
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    errors.add(line.number, "", json_error_text(e));
    return false;
  }
  if (!object.is_object()) {
    errors.add(line.number, "", cat("expected a JSON object, got ", object.type_name()));
    return false;
  }
  for (const std::string& key : duplicates) errors.add(line.number, key, "given more than once");
  return fill_item(object, line.number, errors, item);
}

// A .csv data row as the JSON object a .jsonl line would give: the header
// names the fields; an empty cell leaves the field to the defaults; numbers
// must be numbers. Returns false (errors recorded) when the row is unusable.
bool parse_csv_row(const CsvRecord& row, const std::vector<std::string>& header, ErrorList& errors,
                   JobItem& item) {
  if (row.fields.size() > header.size()) {
    errors.add(row.line, "", cat(row.fields.size(), " cells for the header's ", header.size(), " columns"));
    return false;
  }
  json object = json::object();
  for (size_t k = 0; k < row.fields.size(); ++k) {
    const std::string& name = header[k];
    const std::string_view cell = trim(row.fields[k]);
    if (cell.empty()) continue;
    if (name == "prompt" || name == "negative_prompt" || name == "sampler") {
      object[name] = std::string(cell);
    } else if (name == "guidance") {
      const std::string text(cell);
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) errors.add(row.line, name, cat("expected a number, got '", text, "'"));
      else object[name] = v;
    } else {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
      if (ec != std::errc() || end != cell.data() + cell.size())
        errors.add(row.line, name, cat("expected an integer, got '", std::string(cell), "'"));
      else object[name] = v;
    }
  }
  return fill_item(object, row.line, errors, item);
}

bool fill_item(const json& object, int line_number, ErrorList& errors, JobItem& item) {
  const Line line{"", line_number};
  const FieldReader r{errors, line.number};
  bool has_prompt = false;
  for (const auto& [key, v] : object.items()) {
    std::int64_t seed;
    if (key == "prompt") {
      has_prompt = r.string(v, key, item.prompt);
    } else if (key == "negative_prompt") {
      r.string(v, key, item.negative_prompt);
    } else if (key == "seed") {
      if (r.integer(v, key, seed)) item.seed = seed;
    } else if (key == "steps") {
      r.small_integer(v, key, job_fields::check_steps, item.steps);
    } else if (key == "guidance") {
      if (!v.is_number()) {
        errors.add(line.number, key, cat("expected a number, got ", v.type_name()));
      } else if (std::string why = job_fields::check_guidance(v.get<double>()); !why.empty()) {
        errors.add(line.number, key, why);
      } else {
        item.guidance = static_cast<float>(v.get<double>());
      }
    } else if (key == "width") {
      r.small_integer(v, key, job_fields::check_side, item.width);
    } else if (key == "height") {
      r.small_integer(v, key, job_fields::check_side, item.height);
    } else if (key == "sampler") {
      r.string(v, key, item.sampler);
    } else if (key == "clip_skip") {
      r.small_integer(v, key, job_fields::check_clip_skip, item.clip_skip);
    } else if (key == "count") {
      r.small_integer(v, key, job_fields::check_count, item.count);
    } else if (key == "loras") {
      read_loras(v, line.number, errors, item.loras);
    } else if (key == "original_size") {
      read_size_condition(v, key, line.number, errors, item.original_size);
    } else if (key == "crops_coords_top_left") {
      read_size_condition(v, key, line.number, errors, item.crops_coords_top_left);
    } else if (key == "target_size") {
      read_size_condition(v, key, line.number, errors, item.target_size);
    } else if (key == "refiner") {
      r.string(v, key, item.refiner);  // "" turns a --refiner off for this line
    } else if (key == "refiner_switch" || key == "aesthetic_score" || key == "negative_aesthetic_score") {
      if (!v.is_number()) {
        errors.add(line.number, key, cat("expected a number, got ", v.type_name()));
      } else if (std::string why = key == "refiner_switch" ? job_fields::check_refiner_switch(v.get<double>())
                                                           : job_fields::check_aesthetic_score(v.get<double>());
                 !why.empty()) {
        errors.add(line.number, key, why);
      } else if (key == "refiner_switch") {
        item.refiner_switch = v.get<double>();
      } else {
        (key == "aesthetic_score" ? item.aesthetic_score : item.negative_aesthetic_score) =
            static_cast<float>(v.get<double>());
      }
    } else {
      errors.add(line.number, key, cat("unknown field (expected one of ", kJsonFields, ")"));
    }
  }
  if (!object.contains("prompt")) errors.add(line.number, "prompt", "missing (it is required)");
  return has_prompt;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_defaults(const JobDefaults& d, const SamplerKnown& sampler_known) {
  const auto check = [](std::string_view field, const std::string& why) {
    if (!why.empty()) fail("job defaults: field '", field, "': ", why);
  };
  check("negative_prompt", job_fields::check_prompt(d.negative_prompt, true));
  check("seed", job_fields::check_seed(d.seed));
  check("steps", job_fields::check_steps(d.steps));
  check("guidance", job_fields::check_guidance(d.guidance));
  check("width", job_fields::check_side(d.width));
  check("height", job_fields::check_side(d.height));
  check("clip_skip", job_fields::check_clip_skip(d.clip_skip));
  check("count", job_fields::check_count(d.count));
  check("refiner_switch", job_fields::check_refiner_switch(d.refiner_switch));
  check("aesthetic_score", job_fields::check_aesthetic_score(d.aesthetic_score));
  check("negative_aesthetic_score", job_fields::check_aesthetic_score(d.negative_aesthetic_score));
  if (!sampler_known(d.sampler))
    check("sampler", cat("unknown sampler '", d.sampler, "' (expected one of ", sched::sampler_names_list(), ")"));
}

}  // namespace

std::vector<JobItem> load_prompts(const std::string& path, const JobDefaults& defaults,
                                  const SamplerKnown& sampler_known) {
  const bool is_txt = ends_with(path, ".txt"), is_jsonl = ends_with(path, ".jsonl"), is_csv = ends_with(path, ".csv");
  if (!is_txt && !is_jsonl && !is_csv)
    fail("prompt file ", path, ": unknown extension (expected .txt, .jsonl or .csv)");
  check_defaults(defaults, sampler_known);
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  const std::string_view content(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  ErrorList errors(path);
  std::vector<JobItem> items;
  if (is_csv) {
    if (const auto bad = utf8::first_invalid_byte(content)) fail(path, ": invalid UTF-8 at byte ", *bad + 1);
    const std::vector<CsvRecord> records = read_csv_records(content, path);
    if (records.empty()) fail("prompt file ", path, ": no header row (expected columns among ", kJsonFields, ")");
    std::vector<std::string> header;
    std::set<std::string> seen;
    for (const std::string& cell : records.front().fields) {
      const std::string name(trim(cell));
      static const std::set<std::string> known = {"prompt", "negative_prompt", "seed",    "steps",    "guidance",
                                                   "width",  "height",          "sampler", "clip_skip",
                                                   "count"};
      if (!known.count(name))
        errors.add(records.front().line, name, cat("unknown column (expected among ", kJsonFields, ")"));
      else if (!seen.insert(name).second) errors.add(records.front().line, name, "column given more than once");
      header.push_back(name);
    }
    if (!seen.count("prompt")) errors.add(records.front().line, "prompt", "no such column (it is required)");
    errors.throw_if_any();
    for (size_t k = 1; k < records.size(); ++k) {
      JobItem item = item_from_defaults(defaults, path, records[k].line);
      if (!parse_csv_row(records[k], header, errors, item)) continue;
      take_prompt_loras(item, errors);
      check_item(item, sampler_known, errors);
      add_copies(std::move(item), items, errors);
    }
  }
  for (const Line& line : is_csv ? std::vector<Line>{} : split_lines(content)) {
    if (const auto bad = utf8::first_invalid_byte(line.text)) {
      errors.add(line.number, "", cat("invalid UTF-8 at byte ", *bad + 1, " of the line"));
      continue;
    }
    const std::string_view text = trim(line.text);
    if (text.empty()) continue;
    JobItem item = item_from_defaults(defaults, path, line.number);
    if (is_txt) {
      if (text.front() == '#') continue;
      item.prompt = std::string(text);
    } else if (!parse_json_line(line, errors, item)) {
      continue;
    }
    take_prompt_loras(item, errors);
    check_item(item, sampler_known, errors);
    add_copies(std::move(item), items, errors);
  }
  errors.throw_if_any();
  if (items.empty()) fail("prompt file ", path, ": no prompts (the job is empty)");

  return items;
}

}  // namespace farm
