#include "partition/model_shape.h"

#include <filesystem>

#include "farm/core/error.h"
#include "farm/io/checkpoint_configs.h"
#include "farm/io/json_config.h"

namespace farm::partition {

ModelShape ModelShape::from_folder(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string dir = resolve_model_source(path).config_dir;  // a single file: its family's configs
  if (!fs::is_directory(dir)) fail(dir, ": not a model folder (expected unet/, text_encoder/, vae/ configs)");
  auto config = [&](const char* part) {
    const std::string path = (fs::path(dir) / part / "config.json").string();
    if (!fs::is_regular_file(path)) fail(path, ": missing (a model folder needs ", part, "/config.json)");
    return path;
  };
  ModelShape m;
  m.dir = dir;
  const fs::path index = fs::path(dir) / "model_index.json";
  if (fs::is_regular_file(index) &&
      JsonConfig::load(index.string()).get_string("_class_name", "") == "ZImagePipeline") {
    m.dit = model::ZImageDitConfig::load(config("transformer"));
    m.qwen3 = model::Qwen3Config::load(config("text_encoder"));
    m.vae = model::VaeConfig::load(config("vae"));
    return m;
  }
  m.unet = model::UNetConfig::load(config("unet"));
  // An SDXL refiner (model_index.json requires_aesthetics_score): its one
  // text encoder is text_encoder_2, its UNet takes 5 time ids.
  m.refiner = fs::is_regular_file(index) &&
              JsonConfig::load(index.string()).get_bool("requires_aesthetics_score", false);
  if (m.refiner) m.unet.time_ids = model::UNetConfig::kTimeIds - 1;
  m.text = model::ClipTextConfig::load(config(m.refiner ? "text_encoder_2" : "text_encoder"));
  m.vae = model::VaeConfig::load(config("vae"));
  if (!m.refiner && fs::is_regular_file(fs::path(dir) / "text_encoder_2" / "config.json"))
    m.text_2 = model::ClipTextConfig::load(config("text_encoder_2"));
  m.blocks = model::UNet(m.unet).blocks();  // builds descriptions only; no weights are allocated
  return m;
}

}  // namespace farm::partition
