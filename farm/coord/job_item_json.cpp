#include "farm/coord/job_item_json.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <stdexcept>

#include "farm/coord/image_metadata.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"

namespace farm {

int64_t json_integer(const nlohmann::json& object, const char* key, int64_t lo, int64_t hi) {
  const nlohmann::json& v = object.at(key);
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                              v.get<int64_t>() >= lo && v.get<int64_t>() <= hi
                        : v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!fits) throw std::runtime_error(cat("'", key, "' is ", v.dump(), ", expected an integer in ", lo, "..", hi));
  return v.get<int64_t>();
}

std::string job_item_to_json(const JobItem& it) { return item_json(it); }

JobItem job_item_from_json(const std::string& s) {
  const auto j = nlohmann::json::parse(s);
  JobItem it;
  it.index = json_integer(j, "index");
  it.source = j.at("source").get<std::string>();
  it.line = static_cast<int>(json_integer(j, "line", INT_MIN, INT_MAX));
  it.prompt = j.at("prompt").get<std::string>();
  it.negative_prompt = j.at("negative_prompt").get<std::string>();
  it.seed = json_integer(j, "seed");
  it.seed_was_random = j.at("seed_was_random").get<bool>();
  it.steps = static_cast<int>(json_integer(j, "steps", INT_MIN, INT_MAX));
  // The shortest spelling of the float, read as a float: the same float.
  it.guidance = static_cast<float>(j.at("guidance").get<double>());
  it.width = static_cast<int>(json_integer(j, "width", INT_MIN, INT_MAX));
  it.height = static_cast<int>(json_integer(j, "height", INT_MIN, INT_MAX));
  it.sampler = j.at("sampler").get<std::string>();
  it.clip_skip = static_cast<int>(json_integer(j, "clip_skip", INT_MIN, INT_MAX));
  // Later fields: a journal written before them reads as their defaults.
  if (j.contains("prompt_syntax") && !text::parse_syntax(j["prompt_syntax"].get<std::string>(), it.reading.syntax))
    throw std::runtime_error(cat("'prompt_syntax' is ", j["prompt_syntax"].dump()));
  it.reading.fix_text = j.value("text_fix", std::string("ftfy")) == "ftfy";
  for (const auto& l : j.value("loras", nlohmann::json::array()))
    it.loras.push_back({l.at("name").get<std::string>(), l.at("weight").get<double>(), l.value("sha256", "")});
  it.count = static_cast<int>(j.value("count", 1));
  it.copy = static_cast<int>(j.value("copy", 0));
  it.text_chunks = static_cast<int>(j.value("text_chunks", 1));
  for (const auto& [key, v] : size_conditions(it))
    if (j.contains(key)) *v = {static_cast<int>(j[key].at(0).get<int64_t>()), static_cast<int>(j[key].at(1).get<int64_t>())};
  if (j.contains("refiner")) {
    it.refiner = j["refiner"].get<std::string>();
    it.refiner_switch = j.at("refiner_switch").get<double>();
    it.aesthetic_score = static_cast<float>(j.at("aesthetic_score").get<double>());
    it.negative_aesthetic_score = static_cast<float>(j.at("negative_aesthetic_score").get<double>());
  }
  return it;
}

pipeline::Txt2ImgRequest to_request(const JobItem& it) {
  pipeline::Txt2ImgRequest r;
  r.prompt = it.prompt;
  r.negative_prompt = it.negative_prompt;
  r.seed = static_cast<uint64_t>(it.seed);
  r.steps = it.steps;
  r.guidance = it.guidance;
  r.width = it.width;
  r.height = it.height;
  r.sampler = it.sampler;
  r.clip_skip = it.clip_skip;
  r.reading = it.reading;
  for (const auto& l : it.loras) r.loras.push_back({l.name, l.weight});
  r.original_size = it.original_size;
  r.crops_coords_top_left = it.crops_coords_top_left;
  r.target_size = it.target_size;
  r.refiner = it.refiner;
  r.refiner_switch = it.refiner_switch;
  r.aesthetic_score = it.aesthetic_score;
  r.negative_aesthetic_score = it.negative_aesthetic_score;
  return r;
}

std::string item_key(const JobItem& it, std::string_view model_fingerprint, std::string_view refiner_fingerprint) {
  // Sorted keys (nlohmann's object order) and the float's shortest spelling:
  // the same item hashes the same on every machine and build.
  nlohmann::json key = {{"model", model_fingerprint}, {"prompt", it.prompt},
                              {"negative_prompt", it.negative_prompt}, {"seed", it.seed},
                              {"steps", it.steps}, {"guidance", python_float(it.guidance)},
                              {"width", it.width}, {"height", it.height},
                              {"sampler", it.sampler}, {"clip_skip", it.clip_skip}};
  // Later fields only where they are not their defaults, so the keys of
  // items without them (and journals written before them) stay the same.
  if (!(it.reading == text::PromptReading{})) {
    key["prompt_syntax"] = text::syntax_name(it.reading.syntax);
    key["text_fix"] = it.reading.fix_text ? "ftfy" : "none";
  }
  if (!it.loras.empty()) {
    auto& l = key["loras"] = nlohmann::json::array();
    for (const auto& x : it.loras) l.push_back({{"name", x.name}, {"weight", x.weight}, {"sha256", x.sha256}});
  }
  for (const auto& [name, v] : size_conditions(it))
    if (*v != std::array<int, 2>{0, 0}) key[name] = {(*v)[0], (*v)[1]};
  if (!it.refiner.empty()) {  // the refiner's identity, not its path
    FARM_ASSERT(!refiner_fingerprint.empty(), "item ", it.index, " names a refiner without its fingerprint");
    key["refiner"] = refiner_fingerprint;
    key["refiner_switch"] = it.refiner_switch;
    key["aesthetic_score"] = python_float(it.aesthetic_score);
    key["negative_aesthetic_score"] = python_float(it.negative_aesthetic_score);
  }
  return sha256_hex(key.dump());
}

}  // namespace farm
