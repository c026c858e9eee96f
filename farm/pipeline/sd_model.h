// A Stable Diffusion 1.x/2.x or SDXL base model loaded from a diffusers folder:
// model_index.json, unet/, text_encoder/, vae/, tokenizer/, scheduler/, and
// for SDXL text_encoder_2/ and tokenizer_2/. Loaded once, used for any number
// of prompts.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "farm/io/checkpoint_configs.h"
#include "farm/io/weight_share.h"
#include "farm/io/weight_store.h"
#include "farm/model/clip_text.h"
#include "farm/model/lora.h"
#include "farm/model/unet.h"
#include "farm/model/vae_decoder.h"
#include "farm/sched/scheduler_config.h"
#include "farm/text/clip_tokenizer.h"

namespace farm::pipeline {

// Which weights a rank loads: a pipeline stage holds only its UNet blocks,
// plus the text encoder on stage 0 and the VAE decoder on the last stage.
struct LoadParts {
  bool text_encoder = true, vae = true;
  size_t unet_begin = 0, unet_end = SIZE_MAX;  // clamped to the block count
  // Benchmarks on config-only folders: draw every weight from `seed` instead
  // of reading files (model::WeightLoader::random); the images are noise.
  bool random_weights = false;
  uint64_t seed = 0;
  // --weights shared: this rank's stage group, whose reader reads each
  // weight's bytes for all of it (farm/io/weight_share.h); null: read them here.
  WeightShare* share = nullptr;
};

struct SdModel {
  // dir: the diffusers folder of configs (and, without a checkpoint, weights);
  // name: its base name or the checkpoint's stem, written to image metadata.
  std::string dir, name;
  // A single-file checkpoint holding every part's weights (farm/io/checkpoint_configs.h),
  // with where each part's diffusers keys are in it; empty: the folder's components.
  std::string checkpoint;
  std::map<std::string, PartKeyMap> checkpoint_keys;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  std::unique_ptr<model::ClipTextEncoder> text_encoder;
  std::unique_ptr<model::UNet> unet;
  std::unique_ptr<model::VaeDecoder> vae;
  // SDXL: the second tokenizer and text encoder (with the pooled projection).
  std::unique_ptr<text::ClipTokenizer> tokenizer_2;
  std::unique_ptr<model::ClipTextEncoder> text_encoder_2;
  // SDXL (model_index.json): an empty negative prompt conditions on zeros, not on the encoding of "".
  bool force_zeros_for_empty_prompt = false;
  // An SDXL refiner (StableDiffusionXLImg2ImgPipeline, requires_aesthetics_score):
  // no first tokenizer and text encoder; 5 time ids with the aesthetic score.
  bool refiner = false;
  sched::SchedulerConfig scheduler;
  size_t weight_bytes = 0;  // bytes of weights loaded (as stored; 0 with random weights)
  // Of weight_bytes: read from this rank's files, or received from its stage group's reader.
  size_t weight_bytes_read = 0, weight_bytes_received = 0;
  // Every checkpoint key read, as "unet/<key>", "text_encoder/<key>", "vae/<key>".
  std::set<std::string> loaded_keys;
  // Where the weights live and the model runs; set by load_weights.
  kernels::Backend* backend = nullptr;
  // The linear and conv layers this rank loaded, by part ("unet", "text_encoder"): what LoRAs patch.
  std::map<std::string, model::LayerIndex> layers;
  // LoRAs by the name load_loras gave them (farm/model/lora.h).
  std::map<std::string, std::unique_ptr<model::LoraAdapter>> loras;

  // Checks the folder layout (or the single file and its family's configs),
  // every config and the tokenizers; no weights yet.
  static SdModel open(const std::string& path);
  // Reads the parts' weights and places them on `be`, each once.
  void load_weights(kernels::Backend& be, const LoadParts& parts = {});
  // What the original (LDM/SGM) key names' index tables need from the configs.
  LdmLayout ldm_layout() const;
  // A part's weights inside the single-file checkpoint, by diffusers key.
  WeightStore part_store(const std::string& part, WeightShare* share) const;
  // open + load_weights: the whole model.
  static SdModel load(const std::string& dir, kernels::Backend& be);
  // Reads each (name, path) LoRA file once, after load_weights: every key is
  // checked against the whole model's layers (also those of blocks this rank
  // did not load) before anything is read; only the tensors of layers this
  // rank loaded are read and patched on. Not concurrent with forwards.
  void load_loras(const std::vector<std::pair<std::string, std::string>>& name_paths);

  bool sdxl() const { return text_encoder_2 != nullptr; }  // base or refiner
  // The tokenizer whose options (text fix) and length the job's checks read.
  const text::ClipTokenizer& first_tokenizer() const { return tokenizer ? *tokenizer : *tokenizer_2; }
  // The default width and height (SD 1.5: 512; SD 2.1-768: 768).
  int64_t native_size() const { return unet->config().native_image_size(vae->config().scale_factor()); }
};

// Makes a LoRA set (names given to SdModel::load_loras, with weights) active
// for the forwards the calling thread runs while it lives; restores the set
// before it when destroyed. With no scope alive forwards are the base model's,
// bit for bit. Error naming the LoRA when a name was not loaded.
class LoraScope {
 public:
  LoraScope(const SdModel& m, const model::LoraSet& set);

 private:
  model::ActiveLoraScope scope_;
};

}  // namespace farm::pipeline
