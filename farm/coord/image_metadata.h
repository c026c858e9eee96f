// What goes with an item's image: its file name, A1111's "parameters" text
// (which A1111, ComfyUI and Civitai parse back) and the whole item as JSON.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <array>
#include <string>
#include <utility>

#include "farm/coord/job.h"

namespace farm {

// NNNNN-SEED.png: the index zero-padded to 5 digits (wider past 99999), so a
// directory listing sorts in job order.
std::string image_file_name(const JobItem& item);

// "{prompt}\nNegative prompt: {neg}\nSteps: 20, Sampler: Euler a, CFG scale: 7.5,
// Seed: 42, Size: 512x512, Model: NAME[, Clip skip: 2]". As A1111 writes it:
// no negative line when the negative prompt is empty, no Model when the name is
// empty, Clip skip only above 1, the CFG scale as Python prints a float.
std::string a1111_parameters(const JobItem& item, const std::string& model_name, const std::string& sampler_display);

// The item as a JSON object (keys sorted, guidance at its shortest float
// spelling); `extra` must be an object whose keys are merged in and must not
// collide with the item's.
std::string item_json(const JobItem& item);
// SDXL's size fields of an item by name (job.h), for the record and the key; written only when set.
std::array<std::pair<const char*, std::array<int, 2>*>, 3> size_conditions(JobItem& item);
std::array<std::pair<const char*, const std::array<int, 2>*>, 3> size_conditions(const JobItem& item);
std::string item_json(const JobItem& item, const nlohmann::json& extra);

// Shortest decimal that reads back as the same float, with ".0" when integral:
// 7.5f -> "7.5", 7.0f -> "7.0", 7.3f -> "7.3".
std::string python_float(float value);
// A model's name as A1111 shows it: a folder's name, a .safetensors file's stem.
std::string model_display_name(const std::string& path);

}  // namespace farm
