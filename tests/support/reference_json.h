// Reads a reference.json written by Python's json module, which spells
// non-finite floats as -Infinity/Infinity/NaN (e.g. a scheduler config's
// lambda_min_clipped); JSON has no such numbers, so they are read as null.
#pragma once

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace farm::testing {

inline nlohmann::json read_reference_json(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* word : {"-Infinity", "Infinity", "NaN"})
    for (size_t at; (at = text.find(word)) != std::string::npos;) text.replace(at, std::string(word).size(), "null");
  return nlohmann::json::parse(text);
}

}  // namespace farm::testing
