// A JobItem as JSON and back, exactly (the one mapping: the PNG's "farm" text,
// the journal's "item" and the ring's record of an item all use it), and the
// item's reproducibility key.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "farm/coord/job.h"
#include "farm/pipeline/txt2img.h"

namespace farm {

std::string job_item_to_json(const JobItem& it);  // = item_json(it), image_metadata.h
JobItem job_item_from_json(const std::string& s);

// object[key] as an integer in [lo, hi]; anything else (a float, a string, a
// value out of range) throws std::runtime_error naming the key. get<int>()
// would take 5e27 and convert it: undefined behaviour, found by
// fuzz/fuzz_journal in a journal line.
int64_t json_integer(const nlohmann::json& object, const char* key,
                     int64_t lo = std::numeric_limits<int64_t>::min(), int64_t hi = std::numeric_limits<int64_t>::max());

// What the pipeline computes for the item.
pipeline::Txt2ImgRequest to_request(const JobItem& it);

// sha256 hex of everything that decides the item's pixels: the model's
// fingerprint, prompt, negative prompt, seed, steps, guidance, size, sampler,
// clip skip (not its index, source file or line: moving a line keeps its key).
// A journal record whose key differs from the item's now belongs to another
// image.
std::string item_key(const JobItem& it, std::string_view model_fingerprint, std::string_view refiner_fingerprint = {});

}  // namespace farm
