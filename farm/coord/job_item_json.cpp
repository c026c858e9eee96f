#include "farm/coord/job_item_json.h"

#include <nlohmann/json.hpp>

#include "farm/coord/image_metadata.h"
#include "farm/coord/sha256.h"

namespace farm {

std::string job_item_to_json(const JobItem& it) { return item_json(it); }

JobItem job_item_from_json(const std::string& s) {
  const auto j = nlohmann::json::parse(s);
  JobItem it;
  it.index = j.at("index").get<int64_t>();
  it.source = j.at("source").get<std::string>();
  it.line = j.at("line").get<int>();
  it.prompt = j.at("prompt").get<std::string>();
  it.negative_prompt = j.at("negative_prompt").get<std::string>();
  it.seed = j.at("seed").get<int64_t>();
  it.seed_was_random = j.at("seed_was_random").get<bool>();
  it.steps = j.at("steps").get<int>();
  // The shortest spelling of the float, read as a float: the same float.
  it.guidance = static_cast<float>(j.at("guidance").get<double>());
  it.width = j.at("width").get<int>();
  it.height = j.at("height").get<int>();
  it.sampler = j.at("sampler").get<std::string>();
  it.clip_skip = j.at("clip_skip").get<int>();
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
  return r;
}

std::string item_key(const JobItem& it, std::string_view model_fingerprint) {
  // Sorted keys (nlohmann's object order) and the float's shortest spelling:
  // the same item hashes the same on every machine and build.
  const nlohmann::json key = {{"model", model_fingerprint}, {"prompt", it.prompt},
                              {"negative_prompt", it.negative_prompt}, {"seed", it.seed},
                              {"steps", it.steps}, {"guidance", python_float(it.guidance)},
                              {"width", it.width}, {"height", it.height},
                              {"sampler", it.sampler}, {"clip_skip", it.clip_skip}};
  return sha256_hex(key.dump());
}

}  // namespace farm
