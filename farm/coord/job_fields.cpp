#include "farm/coord/job_fields.h"

#include <cmath>

#include "farm/coord/utf8.h"
#include "farm/core/error.h"

namespace farm::job_fields {

std::string check_seed(std::int64_t seed) {
  if (seed < -1) return cat("expected an integer in -1..9223372036854775807 (-1: random), got ", seed);
  return "";
}

std::string check_steps(std::int64_t steps) {
  if (steps < 1 || steps > kMaxSteps) return cat("expected an integer in 1..", kMaxSteps, ", got ", steps);
  return "";
}

std::string check_side(std::int64_t pixels) {
  if (pixels < 8 || pixels > kMaxSide || pixels % 8 != 0) {
    return cat("expected a multiple of 8 in 8..", kMaxSide, " (pixels), got ", pixels);
  }
  return "";
}

std::string check_guidance(double guidance) {
  // float is what the item stores; a double that overflows it is not finite there.
  if (!std::isfinite(guidance) || !std::isfinite(static_cast<float>(guidance)) || guidance < 0) {
    return cat("expected a finite number >= 0, got ", guidance);
  }
  return "";
}

std::string check_clip_skip(std::int64_t clip_skip) {
  if (clip_skip < 1 || clip_skip > kMaxClipSkip) {
    return cat("expected an integer in 1..", kMaxClipSkip, " (1: last layer), got ", clip_skip);
  }
  return "";
}

std::string check_prompt(const std::string& text, bool may_be_empty) {
  if (const auto bad = utf8::first_invalid_byte(text)) return cat("invalid UTF-8 at byte ", *bad);
  if (text.find('\0') != std::string::npos) return "contains a NUL character";
  if (!may_be_empty && text.find_first_not_of(" \t\r\n\f\v") == std::string::npos) {
    return "expected a non-empty string";
  }
  return "";
}

std::string check_count(std::int64_t count) {
  if (count < 1 || count > kMaxCount) return cat("count ", count, " is out of range (1 to ", kMaxCount, ")");
  return "";
}

std::string check_size_condition(std::int64_t a, std::int64_t b, bool crop) {
  const std::int64_t lo = crop ? 0 : 1, hi = 8 * kMaxSide;
  if (a < lo || a > hi || b < lo || b > hi)
    return cat("expected [", crop ? "top, left" : "height, width", "], integers in ", lo, "..", hi, ", got [", a, ", ",
               b, "]");
  return "";
}

std::string check_refiner_switch(double fraction) {
  if (fraction > 0.0 && fraction < 1.0) return "";
  return cat("expected a fraction of the schedule strictly between 0 and 1 (diffusers' denoising_end; 0.8 hands ",
             "the last 20% of the steps to the refiner), got ", fraction);
}

std::string check_aesthetic_score(double score) {
  if (score >= 0.0 && score <= 10.0) return "";
  return cat("expected a score from 0 to 10 (the refiner was trained on LAION aesthetic scores; diffusers' ",
             "defaults 6.0 and 2.5), got ", score);
}

}  // namespace farm::job_fields
