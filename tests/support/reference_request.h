// A pipeline reference case (tools/reference/make_*_reference.py "cases") as
// the request farm renders: diffusers' argument names are the request's, a
// null negative prompt is diffusers' default (""), and the SDXL size and
// refiner fields where the case gives them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "farm/pipeline/txt2img.h"

namespace farm::testing {

inline pipeline::Txt2ImgRequest reference_request(const nlohmann::json& c, const std::string& refiner = "") {
  pipeline::Txt2ImgRequest r;
  r.prompt = c.at("prompt").get<std::string>();
  r.negative_prompt = c.at("negative_prompt").is_null() ? "" : c.at("negative_prompt").get<std::string>();
  r.seed = c.at("seed").get<uint64_t>();
  r.steps = c.at("steps").get<int>();
  r.guidance = c.at("guidance").get<float>();
  r.width = c.at("width").get<int>();
  r.height = c.at("height").get<int>();
  r.sampler = c.at("sampler").get<std::string>();
  for (const auto& [key, v] : {std::pair{"original_size", &r.original_size},
                               {"crops_coords_top_left", &r.crops_coords_top_left}, {"target_size", &r.target_size}})
    if (c.contains(key)) *v = {c.at(key).at(0).get<int>(), c.at(key).at(1).get<int>()};
  if (c.contains("switch")) {  // a base -> refiner case
    r.refiner = refiner;
    r.refiner_switch = c.at("switch").get<double>();
  }
  if (c.contains("aesthetic_score")) r.aesthetic_score = c.at("aesthetic_score").get<float>();
  if (c.contains("negative_aesthetic_score")) r.negative_aesthetic_score = c.at("negative_aesthetic_score").get<float>();
  return r;
}

}  // namespace farm::testing
