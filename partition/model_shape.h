// A model as the cost model sees it: its configs and block list, no weights.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "farm/model/clip_text.h"
#include "farm/model/qwen3_text.h"
#include "farm/model/unet.h"
#include "farm/model/unet_config.h"
#include "farm/model/vae_decoder.h"
#include "farm/model/zimage_dit.h"

namespace farm::partition {

struct ModelShape {
  std::string dir;
  model::UNetConfig unet;
  std::vector<model::UNetBlockDesc> blocks;
  model::ClipTextConfig text;  // a refiner's: its only one, text_encoder_2/
  std::optional<model::ClipTextConfig> text_2;  // SDXL base's second text encoder (text_encoder_2/)
  bool refiner = false;  // an SDXL refiner (StableDiffusionXLImg2ImgPipeline)
  model::VaeConfig vae;
  // A Z-Image folder (ZImagePipeline): its DiT and Qwen3 configs; the UNet
  // fields above are then unused (dit_costs.h costs it).
  std::optional<model::ZImageDitConfig> dit;
  std::optional<model::Qwen3Config> qwen3;
  int64_t native_size() const { return dit ? 1024 : unet.native_image_size(vae.scale_factor()); }

  // Reads DIR/unet/config.json, DIR/text_encoder/config.json,
  // DIR/text_encoder_2/config.json where there is one (SDXL) and
  // DIR/vae/config.json (errors name the file); weights are never opened.
  // A ZImagePipeline folder: transformer/, text_encoder/ (Qwen3) and vae/.
  static ModelShape from_folder(const std::string& dir);
};

}  // namespace farm::partition
