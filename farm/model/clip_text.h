// CLIPTextModel (transformers) as SD uses it: token + position embeddings,
// pre-norm causal transformer layers, final layer norm. clip_skip follows
// A1111: 1 = last layer, 2 = penultimate layer (then the final layer norm,
// as diffusers' encode_prompt does).
//
// SDXL reads its encoders differently (forward_sdxl): the state one layer
// earlier than SD's, without the final layer norm, and from the second
// encoder (CLIPTextModelWithProjection) the pooled embedding as well.
#pragma once

#include <string>
#include <vector>

#include "farm/model/block_list.h"
#include "farm/model/layers.h"
#include "farm/model/text_state.h"

namespace farm::model {

struct ClipTextConfig {
  int64_t vocab_size = 49408, hidden_size = 768, intermediate_size = 3072;
  int64_t layers = 12, heads = 12, max_positions = 77;
  bool quick_gelu = true;  // hidden_act: quick_gelu (SD 1.x) or gelu (SD 2.x)
  float layer_norm_eps = 1e-5f;
  // CLIPTextModelWithProjection: text_projection [projection_dim, hidden], no bias.
  bool with_projection = false;
  int64_t projection_dim = 0;
  // Where the pooled state is read: transformers' legacy rule for eos_token_id 2
  // (the largest id, which is <|endoftext|> in CLIP's vocabulary), else the first eos_token_id.
  int64_t eos_token_id = 2;

  static ClipTextConfig load(const std::string& path);
};

// The encoder's blocks, in order: the token and position embeddings, each
// transformer layer, the final layer norm and (with a projection) the pooled
// projection.
enum class TextBlockKind { embeddings, layer, final_layer_norm, text_projection };
const char* block_kind_name(TextBlockKind k);

struct TextBlockDesc {
  TextBlockKind kind = TextBlockKind::layer;
  std::string name;  // checkpoint prefix: "text_model.encoder.layers.3", "text_projection", ...
  int64_t layer = -1;
};

class ClipTextEncoder {
 public:
  explicit ClipTextEncoder(ClipTextConfig c);
  const ClipTextConfig& config() const { return config_; }

  void load(const WeightLoader& w);
  // ids [B·L] (L ≤ max_positions per sequence) -> [B, L, hidden], on the backend
  Tensor forward(Backend& be, const std::vector<int64_t>& ids, int64_t batch, int clip_skip = 1) const;

  struct SdxlOutput {
    Tensor hidden;  // [B, L, hidden]: after layer `layers - clip_skip`, no final layer norm
    Tensor pooled;  // [B, projection_dim] with a projection (else undefined)
  };
  // diffusers' StableDiffusionXLPipeline.encode_prompt for one encoder:
  // hidden_states[-(clip_skip + 1)] (clip_skip as A1111 counts it) and text_embeds.
  SdxlOutput forward_sdxl(Backend& be, const std::vector<int64_t>& ids, int64_t batch, int clip_skip = 1) const;

  // The block list; forward and forward_sdxl are runs of ranges of it.
  const std::vector<TextBlockDesc>& blocks() const { return blocks_; }
  std::vector<BlockRef> block_list(ModelPart part) const;
  void run(Backend& be, TextState& s, size_t begin, size_t end) const;  // blocks [begin, end)
  // The index of the block after layer i (0-based): layer i is block i + 1.
  static size_t after_layer(int64_t i) { return static_cast<size_t>(i + 2); }
  size_t final_layer_norm_block() const { return static_cast<size_t>(config_.layers + 1); }

 private:
  Tensor embed(Backend& be, const std::vector<int64_t>& ids, int64_t batch) const;
  void run_layers(Backend& be, Tensor& h, int64_t from, int64_t to) const;  // layers [from, to)

  struct Layer {
    LayerNorm ln1, ln2;
    Linear q, k, v, out, fc1, fc2;
  };
  void pool(Backend& be, TextState& s) const;
  ClipTextConfig config_;
  std::vector<TextBlockDesc> blocks_;
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  LayerNorm final_ln_;
  Linear projection_;
};

}  // namespace farm::model
