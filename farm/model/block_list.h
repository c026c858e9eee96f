// Every part of a model (the text encoder(s), the UNet, the VAE decoder) is
// one ordered list of blocks (ARCHITECTURE.md, "The block list"). A part runs
// any contiguous range of its list on a state it owns (UNetState, TextState,
// the VAE's running activation); the cost model (partition/cost_model.h),
// the partitioner and `farm plan` read the same lists through BlockRef.
#pragma once

#include <string>
#include <vector>

namespace farm::model {

enum class ModelPart { text_encoder, text_encoder_2, unet, vae };
// As the diffusers folder names the part: "text_encoder", "text_encoder_2", "unet", "vae".
const char* part_name(ModelPart p);

// A block of any part, as plans and cost tables list it.
struct BlockRef {
  ModelPart part = ModelPart::unet;
  std::string name;  // the checkpoint prefix of its weights, e.g. "text_model.encoder.layers.3"
  std::string kind;  // "layer", "resnet", "attention", ...
};

}  // namespace farm::model
