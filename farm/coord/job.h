// A job: defaults (TOML) layered under per-item fields from a prompt file
// (.txt: one prompt a line; .jsonl: one object a line). Everything is checked
// before any item is returned, since the caller spends no compute before this.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "farm/text/prompt_chunks.h"

namespace farm {

// A LoRA an item asks for: <lora:name:weight> in its prompt (A1111 syntax)
// or an entry of its `loras` field.
struct ItemLora {
  std::string name;
  double weight = 1.0;
  std::string sha256;  // of the file's tensor data (A1111's LoRA hash); set by prepare_job
  bool operator==(const ItemLora&) const = default;
};

struct JobDefaults {
  std::string negative_prompt;
  std::int64_t seed = -1;  // -1: a random seed per item
  int steps = 20;
  float guidance = 7.5f;
  int width = 512, height = 512;
  std::string sampler = "euler_a";
  int clip_skip = 1;
  text::PromptReading reading;  // prompt_syntax, text_fix
  int count = 1;                // images per item (A1111's batch count): seeds seed, seed+1, ...
  // SDXL base -> refiner (--refiner, --refiner-switch, --aesthetic-score,
  // --negative-aesthetic-score); refiner "" renders with the base alone.
  std::string refiner;
  double refiner_switch = 0.8;
  float aesthetic_score = 6.0f, negative_aesthetic_score = 2.5f;
};

struct JobItem {
  std::int64_t index = 0;  // 0-based position in the job
  std::string source;      // prompt file path
  int line = 0;            // 1-based line in `source`
  std::string prompt, negative_prompt;
  std::int64_t seed = 0;  // -1 from load_prompts for a random seed, until assign_random_seeds (job_seeds.h)
  bool seed_was_random = false;
  int steps = 0;
  float guidance = 0;
  int width = 0, height = 0;
  std::string sampler;
  int clip_skip = 1;
  text::PromptReading reading;
  std::vector<ItemLora> loras;  // prompt tags first, then the `loras` field
  int count = 1;                // images of its line (`count`, --count)
  int copy = 0;                 // this one is the line's copy-th (0-based): seed + copy
  int text_chunks = 1;          // 77-token chunks of its rows (set by prepare_job; batches share it)
  // SDXL's size conditioning (diffusers' names; [height, width] and [top, left]);
  // [0, 0] sizes: the image's own, as diffusers defaults them.
  std::array<int, 2> original_size{0, 0}, crops_coords_top_left{0, 0}, target_size{0, 0};
  // SDXL refiner: its folder or file ("" none), where the base hands over
  // (diffusers' denoising_end) and its aesthetic-score conditioning.
  std::string refiner;
  double refiner_switch = 0.8;
  float aesthetic_score = 6.0f, negative_aesthetic_score = 2.5f;
};

// Reads top-level keys named as JobDefaults' fields; keys not present keep
// `base`. Unknown keys, wrong types and out-of-range values fail naming the
// file, line and key. The sampler name is checked by load_prompts.
JobDefaults load_job_config(const std::string& toml_path, JobDefaults base);

// Fails listing every bad line (up to a cap) with FILE:LINE and field.
// Random seeds are left at -1: they derive from the job seed (job_seeds.h).
std::vector<JobItem> load_prompts(const std::string& path, const JobDefaults& defaults,
                                  const std::function<bool(const std::string&)>& sampler_known);

}  // namespace farm
