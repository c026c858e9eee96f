#include "farm/model/block_list.h"

namespace farm::model {

const char* part_name(ModelPart p) {
  switch (p) {
    case ModelPart::text_encoder: return "text_encoder";
    case ModelPart::text_encoder_2: return "text_encoder_2";
    case ModelPart::unet: return "unet";
    case ModelPart::vae: return "vae";
  }
  return "?";
}

}  // namespace farm::model
