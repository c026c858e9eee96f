// UNet2DConditionModel as an ordered block list (ARCHITECTURE.md, "The block
// list"). Each block reads the running hidden state, may pop a skip tensor
// (up path) before it runs or push one (down path) after it, and writes the
// hidden state. A pipeline stage runs a contiguous range [begin, end); the
// same descriptions drive execution, the cost model and `farm plan`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "farm/model/block_list.h"
#include "farm/model/resnet.h"
#include "farm/model/transformer.h"
#include "farm/model/unet_config.h"

namespace farm::model {

enum class UNetBlockKind { time_embedding, conv_in, resnet, transformer, downsample, upsample, conv_out };
const char* block_kind_name(UNetBlockKind k);

// What a block is, without weights: enough for cost models and plans.
struct UNetBlockDesc {
  std::string name;  // checkpoint prefix, e.g. "down_blocks.0.resnets.1"
  UNetBlockKind kind;
  int64_t in_channels = 0, out_channels = 0;
  int level = 0;           // spatial size is the latent size / 2^level
  bool pops_skip = false;  // concatenates the top of the skip stack to its input
  int64_t skip_channels = 0;
  bool pushes_skip = false;  // pushes its output onto the skip stack
  int64_t heads = 0, context_dim = 0, layers = 0;  // transformer blocks
};

// A micro-batch's state inside the UNet; it is what crosses a stage cut.
struct UNetState {
  Tensor h;                   // [B, H, W, C] running hidden state
  std::vector<Tensor> skips;  // skip stack (down path pushes, up path pops)
  Tensor timesteps;           // [B]
  Tensor temb;                // [B, time_embed_dim], set by the time_embedding block
  Tensor context;             // [B, L, context_dim] text embeddings
  // SDXL's added conditioning (UNetConfig::text_time), read by the time_embedding block only:
  Tensor text_embeds;  // [B, text_embeds_dim] pooled text embeddings
  Tensor time_ids;     // [B, 6] (host): original h, w, crop top, left, target h, w
  // The sample's height and width, set by conv_in: each upsampler's output
  // size follows from it (the skip the next resnet pops may be on a later stage).
  int64_t latent_h = 0, latent_w = 0;
};

// SDXL's time ids of an uncropped height x width image at its own size (diffusers'
// defaults), host: the base's [rows, 6] rows of (h, w, 0, 0, h, w), the
// refiner's [rows, 5] of (h, w, 0, 0, 6.0: the default aesthetic score).
Tensor default_time_ids(const UNetConfig& c, int64_t rows, int64_t height, int64_t width);

class UNet {
 public:
  explicit UNet(UNetConfig config);
  ~UNet();

  const UNetConfig& config() const { return config_; }
  const std::vector<UNetBlockDesc>& blocks() const { return descs_; }
  std::vector<BlockRef> block_list() const;  // the same blocks, as plans list every part's

  // Loads the weights of blocks [begin, end) only.
  void load(const WeightLoader& w, size_t begin, size_t end);
  void load(const WeightLoader& w) { load(w, 0, descs_.size()); }

  // Runs blocks [begin, end) on the state. Host tensors in it are first placed
  // on the backend; the results stay there.
  void run(Backend& be, UNetState& s, size_t begin, size_t end) const;

  // The whole network: sample [B,H,W,in], timesteps [B] (host), context [B,L,D] -> host [B,H,W,out];
  // with added conditioning (SDXL), text_embeds [B,P] and time_ids [B,6] (host) too.
  Tensor forward(Backend& be, Tensor sample, Tensor timesteps, Tensor context, Tensor text_embeds = {},
                 Tensor time_ids = {}) const;

 private:
  struct Weights;
  void run_block(Backend& be, size_t i, UNetState& s) const;

  UNetConfig config_;
  std::vector<UNetBlockDesc> descs_;
  std::vector<std::unique_ptr<Weights>> weights_;  // null until loaded
};

}  // namespace farm::model
