// Single-file checkpoints: the original LDM / SGM key names of the
// .safetensors files users download (model.diffusion_model.*,
// first_stage_model.*, cond_stage_model.*, conditioner.embedders.N.*) mapped
// onto the diffusers names farm's model code reads, per part. The mapping is
// diffusers' own (diffusers.loaders.single_file_utils), inverted by
// tools/reference/make_single_files.py and checked there against diffusers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "farm/io/safetensors.h"

namespace farm {

enum class CheckpointFamily { sd1, sd2, sdxl, sdxl_refiner };
const char* checkpoint_family_name(CheckpointFamily f);

// From the keys alone; an error names the file and a few of its keys when the
// layout is none of SD 1.x, SD 2.x, SDXL base or refiner.
CheckpointFamily detect_checkpoint_family(const SafetensorsFile& f);

// What the index tables of the LDM names need from the model's configs.
struct LdmLayout {
  std::vector<int64_t> layers_per_block;  // per UNet level
  std::vector<bool> up_attention;         // per up block (deepest first)
  int vae_levels = 0;                     // VAE decoder up blocks
  int64_t text_layers = 0;                // OpenCLIP encoders keep the first text_layers resblocks (SD 2.x: 23 of 24)
  int64_t text2_layers = 0;
};

// One diffusers-named tensor: rows [row_begin, row_begin + rows) of a stored
// tensor (OpenCLIP's fused in_proj splits into q, k, v), transposed or not
// (OpenCLIP's text_projection is [hidden, projection]; diffusers' [projection, hidden]).
struct MappedTensor {
  std::string source;  // key in the file
  int64_t row_begin = 0, rows = -1;  // -1: all rows
  bool transpose = false;
};
using PartKeyMap = std::map<std::string, MappedTensor>;  // diffusers key -> where it is

// The original (LDM/SGM) name of a diffusers UNet module ("down_blocks.1.
// attentions.0.transformer_blocks.0.attn1.to_q" -> "input_blocks.4.1.
// transformer_blocks.0.attn1.to_q"), as kohya's SDXL LoRAs name the modules
// they patch; "" for a module with no such name.
std::string ldm_unet_module(const std::string& module, const LdmLayout& layout);

// Every part's map ("unet", "text_encoder", "text_encoder_2", "vae"), built from
// the file's keys. Keys no part reads (the VAE encoder, EMA copies, SD 2.x's
// last OpenCLIP layer) are left out.
std::map<std::string, PartKeyMap> map_checkpoint_keys(const SafetensorsFile& f, CheckpointFamily family,
                                                      const LdmLayout& layout);

}  // namespace farm
