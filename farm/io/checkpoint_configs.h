// Where a single-file checkpoint's configs come from. A file holds weights
// only: its family's built-in config-only folder (configs/sd15, sd21, sdxl:
// what diffusers' single-file loader fetches per family) gives the UNet, text
// encoder, VAE and scheduler configs and the tokenizers. A diffusers folder
// holding a top-level original-layout .safetensors checkpoint beside its
// configs reads that file with its own configs instead (diffusers'
// from_single_file(..., config=folder)).
#pragma once

#include <string>

#include "farm/io/checkpoint_keys.h"

namespace farm {

struct ModelSource {
  std::string config_dir;  // a diffusers folder layout: model_index.json and the component configs
  std::string checkpoint;  // the single-file checkpoint; empty: the weights are in config_dir's components
  CheckpointFamily family = CheckpointFamily::sd1;  // when checkpoint is set
};

// --model PATH: a diffusers folder, a .safetensors single file, or a folder
// of configs with one checkpoint file. Errors name the path.
ModelSource resolve_model_source(const std::string& path);

// The built-in config folder of a family: $FARM_CONFIGS/<name> when set, else
// the configs/ folder of the source tree this farm was built from.
std::string builtin_config_dir(CheckpointFamily family);

// SD 2.x: the original YAML beside the checkpoint (same name, .yaml), whose
// `parameterization: "v"` means v-prediction (768-v) and its absence epsilon
// (512-base). "" without such a file.
std::string sidecar_prediction_type(const std::string& checkpoint);

}  // namespace farm
