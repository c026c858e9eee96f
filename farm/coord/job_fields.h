// Range checks shared by the TOML defaults and the prompt-file items, so a
// value means the same wherever it is set. Each returns "" when the value is
// fine, else the text after "field 'x': ".
#pragma once

#include <cstdint>
#include <string>

namespace farm::job_fields {

inline constexpr int kMaxSide = 4096;
inline constexpr int kMaxSteps = 1000;
inline constexpr int kMaxClipSkip = 12;  // A1111's limit; CLIP ViT-L has 12 layers

std::string check_seed(std::int64_t seed);
std::string check_steps(std::int64_t steps);
std::string check_side(std::int64_t pixels);
std::string check_guidance(double guidance);
std::string check_clip_skip(std::int64_t clip_skip);
std::string check_prompt(const std::string& text, bool may_be_empty);
inline constexpr int kMaxCount = 1000;  // A1111's slider stops at 100
std::string check_count(std::int64_t count);  // images per prompt line
// SDXL's original_size / target_size ([height, width], pixels in 1..8·kMaxSide)
// and crops_coords_top_left ([top, left] in 0..8·kMaxSide): "" or why not.
std::string check_size_condition(std::int64_t a, std::int64_t b, bool crop);
// SDXL refiner: the switch (a fraction strictly between 0 and 1) and the aesthetic scores (finite, 0..10 as trained).
std::string check_refiner_switch(double fraction);
std::string check_aesthetic_score(double score);

}  // namespace farm::job_fields
