// A Stable Diffusion 1.x/2.x model loaded from a diffusers folder:
// model_index.json, unet/, text_encoder/, vae/, tokenizer/, scheduler/.
// Loaded once, used for any number of prompts.
#pragma once

#include <memory>
#include <string>

#include "farm/model/clip_text.h"
#include "farm/model/unet.h"
#include "farm/model/vae_decoder.h"
#include "farm/sched/scheduler_config.h"
#include "farm/text/clip_tokenizer.h"

namespace farm::pipeline {

struct SdModel {
  std::string dir, name;  // name: the folder's base name, written to image metadata
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  std::unique_ptr<model::ClipTextEncoder> text_encoder;
  std::unique_ptr<model::UNet> unet;
  std::unique_ptr<model::VaeDecoder> vae;
  sched::SchedulerConfig scheduler;
  size_t weight_bytes = 0;  // bytes of weights read from disk (as stored)

  // Checks the folder layout and every config first, then loads weights.
  static SdModel load(const std::string& dir);
};

}  // namespace farm::pipeline
