#include "farm/coord/image_metadata.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "farm/coord/job_loras.h"
#include "farm/core/error.h"

namespace farm {

std::string image_file_name(const JobItem& item) {
  FARM_ASSERT(item.index >= 0, "item index ", item.index);
  std::ostringstream s;
  s << std::setw(5) << std::setfill('0') << item.index << '-' << item.seed << ".png";
  return s.str();
}

std::string model_display_name(const std::string& path) {
  const std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.has_extension() && p.extension() == ".safetensors") return p.stem().string();  // A1111's name for a file
  return p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
}

std::string python_float(float value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  FARM_ASSERT(ec == std::errc(), "to_chars(float) failed");
  std::string text(buf, end);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // 'n': inf/nan stay as they are
  return text;
}

std::string a1111_parameters(const JobItem& item, const std::string& model_name, const std::string& sampler_display) {
  // LoRAs of the `loras` field go into the prompt as tags, where A1111 and
  // Civitai look for them (tags already in the prompt stay as written).
  std::vector<ItemLora> in_prompt;
  if (item.reading.syntax == text::PromptSyntax::a1111) prompt_loras(item.prompt, in_prompt);
  std::vector<ItemLora> extra;
  for (const auto& l : item.loras)
    if (std::none_of(in_prompt.begin(), in_prompt.end(), [&](const ItemLora& p) { return p.name == l.name; }))
      extra.push_back(l);
  std::string text = item.prompt;
  if (!extra.empty()) {
    if (!text.empty()) text += ' ';
    text += lora_tags(extra);
  }
  if (!item.negative_prompt.empty()) text += "\nNegative prompt: " + item.negative_prompt;
  // A1111 strips the whole text: an empty prompt's parameters start at "Steps:".
  text += cat(text.empty() ? "" : "\n", "Steps: ", item.steps, ", Sampler: ", sampler_display,
              ", CFG scale: ", python_float(item.guidance), ", Seed: ", item.seed, ", Size: ", item.width, "x",
              item.height);
  if (!model_name.empty()) text += ", Model: " + model_name;
  if (item.clip_skip > 1) text += cat(", Clip skip: ", item.clip_skip);
  if (!item.refiner.empty())  // as A1111 writes its refiner (name, and the switch as a fraction of the steps)
    text += cat(", Refiner: ", model_display_name(item.refiner), ", Refiner switch at: ", item.refiner_switch);
  if (!item.loras.empty()) {
    std::string hashes;
    for (const auto& l : item.loras) hashes += cat(hashes.empty() ? "" : ", ", l.name, ": ", l.sha256.substr(0, 12));
    text += ", Lora hashes: \"" + hashes + "\"";
  }
  return text;
}

std::array<std::pair<const char*, std::array<int, 2>*>, 3> size_conditions(JobItem& item) {
  return {{{"original_size", &item.original_size},
           {"crops_coords_top_left", &item.crops_coords_top_left},
           {"target_size", &item.target_size}}};
}

std::array<std::pair<const char*, const std::array<int, 2>*>, 3> size_conditions(const JobItem& item) {
  return {{{"original_size", &item.original_size},
           {"crops_coords_top_left", &item.crops_coords_top_left},
           {"target_size", &item.target_size}}};
}

namespace {

// The float's shortest spelling read as a double, so the JSON says 7.3 and not
// 7.300000190734863.
double shortest_double(float value) {
  const std::string text = python_float(value);
  double out = value;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

nlohmann::json loras_json(const std::vector<ItemLora>& loras) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : loras) out.push_back({{"name", l.name}, {"weight", l.weight}, {"sha256", l.sha256}});
  return out;
}

nlohmann::json item_object(const JobItem& item) {
  nlohmann::json o = {
      {"index", item.index},
      {"source", item.source},
      {"line", item.line},
      {"prompt", item.prompt},
      {"negative_prompt", item.negative_prompt},
      {"seed", item.seed},
      {"seed_was_random", item.seed_was_random},
      {"steps", item.steps},
      {"guidance", shortest_double(item.guidance)},
      {"width", item.width},
      {"height", item.height},
      {"sampler", item.sampler},
      {"clip_skip", item.clip_skip},
      {"prompt_syntax", text::syntax_name(item.reading.syntax)},
      {"text_fix", item.reading.fix_text ? "ftfy" : "none"},
      {"loras", loras_json(item.loras)},
      {"count", item.count},
      {"copy", item.copy},
      {"text_chunks", item.text_chunks},
  };
  for (const auto& [name, v] : size_conditions(item))
    if (*v != std::array<int, 2>{0, 0}) o[name] = {(*v)[0], (*v)[1]};
  if (!item.refiner.empty()) {
    o["refiner"] = item.refiner;
    o["refiner_switch"] = item.refiner_switch;
    o["aesthetic_score"] = shortest_double(item.aesthetic_score);
    o["negative_aesthetic_score"] = shortest_double(item.negative_aesthetic_score);
  }
  return o;
}

}  // namespace

std::string item_json(const JobItem& item) { return item_object(item).dump(); }

std::string item_json(const JobItem& item, const nlohmann::json& extra) {
  FARM_ASSERT(extra.is_object(), "item_json extra must be a JSON object, got ", extra.type_name());
  nlohmann::json object = item_object(item);
  for (const auto& [key, value] : extra.items()) {
    FARM_ASSERT(!object.contains(key), "item_json extra key '", key, "' collides with an item field");
    object[key] = value;
  }
  return object.dump();
}

}  // namespace farm
