// Job defaults a model recommends: `farm.toml` beside `model_index.json`,
// with the keys of a --config file (load_job_config). Layered as
//   built-in < model's farm.toml < --config < flags < prompt line,
// so a model that only draws well at, say, CFG 1.5 and 25 DDIM steps says so
// once, and a user who sets those keys still wins.
#pragma once

#include <string>

#include "farm/coord/job.h"

namespace farm {

inline constexpr const char* kModelDefaultsFile = "farm.toml";

// `base` with MODEL_DIR/farm.toml's keys applied; `base` unchanged when the
// model folder has no farm.toml. Errors name the file, line and key, as
// load_job_config's do.
JobDefaults model_job_defaults(const std::string& model_dir, JobDefaults base);

}  // namespace farm
