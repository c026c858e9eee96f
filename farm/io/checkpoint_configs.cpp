#include "farm/io/checkpoint_configs.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "farm/core/error.h"

namespace farm {

namespace fs = std::filesystem;

std::string builtin_config_dir(CheckpointFamily family) {
  const char* env = std::getenv("FARM_CONFIGS");
  const std::string root = env && *env ? env : FARM_CONFIGS_DIR;
  const char* name = family == CheckpointFamily::sd1   ? "sd15"
                     : family == CheckpointFamily::sd2 ? "sd21"
                     : family == CheckpointFamily::sdxl ? "sdxl"
                                                        : "sdxl-refiner";
  const std::string dir = (fs::path(root) / name).string();
  if (!fs::is_regular_file(fs::path(dir) / "model_index.json"))
    fail(dir, ": the built-in ", checkpoint_family_name(family), " configs are missing (set FARM_CONFIGS to the ",
         "configs/ folder of farm's source tree, or pass a diffusers folder of configs holding the checkpoint)");
  return dir;
}

ModelSource resolve_model_source(const std::string& path) {
  ModelSource s;
  if (fs::is_regular_file(path)) {
    if (fs::path(path).extension() != ".safetensors")
      fail(path, ": a model is a diffusers folder or a .safetensors single-file checkpoint");
    s.checkpoint = path;
    s.family = detect_checkpoint_family(SafetensorsFile(path));
    s.config_dir = builtin_config_dir(s.family);
    return s;
  }
  s.config_dir = path;
  if (!fs::is_directory(path)) return s;  // SdModel::open names what is missing
  // Top-level .safetensors files holding an original-layout UNet (other files,
  // e.g. reference data beside a test model, are not checkpoints).
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.path().extension() == ".safetensors" && e.is_regular_file() &&
        SafetensorsFile(e.path().string()).find("model.diffusion_model.input_blocks.0.0.weight"))
      files.push_back(e.path().string());
  if (files.empty()) return s;
  if (files.size() > 1)
    fail(path, ": holds ", files.size(), " top-level .safetensors files; a folder of configs takes one checkpoint");
  s.checkpoint = files[0];
  s.family = detect_checkpoint_family(SafetensorsFile(files[0]));
  return s;
}

std::string sidecar_prediction_type(const std::string& checkpoint) {
  const fs::path yaml = fs::path(checkpoint).replace_extension(".yaml");
  std::ifstream in(yaml);
  if (!in) return "";
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("parameterization:");
    if (at == std::string::npos) continue;
    const std::string v = line.substr(at + 17);
    return v.find('v') != std::string::npos && v.find("eps") == std::string::npos ? "v_prediction" : "epsilon";
  }
  return "epsilon";
}

}  // namespace farm
