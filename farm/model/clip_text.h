// CLIPTextModel (transformers) as SD uses it: token + position embeddings,
// pre-norm causal transformer layers, final layer norm. clip_skip follows
// A1111: 1 = last layer, 2 = penultimate layer (then the final layer norm,
// as diffusers' encode_prompt does).
#pragma once

#include <string>
#include <vector>

#include "farm/model/layers.h"

namespace farm::model {

struct ClipTextConfig {
  int64_t vocab_size = 49408, hidden_size = 768, intermediate_size = 3072;
  int64_t layers = 12, heads = 12, max_positions = 77;
  bool quick_gelu = true;  // hidden_act: quick_gelu (SD 1.x) or gelu (SD 2.x)
  float layer_norm_eps = 1e-5f;

  static ClipTextConfig load(const std::string& path);
};

class ClipTextEncoder {
 public:
  explicit ClipTextEncoder(ClipTextConfig c) : config_(std::move(c)) {}
  const ClipTextConfig& config() const { return config_; }

  void load(const WeightLoader& w);
  // ids [B·L] (L ≤ max_positions per sequence) -> [B, L, hidden], on the backend
  Tensor forward(Backend& be, const std::vector<int64_t>& ids, int64_t batch, int clip_skip = 1) const;

 private:
  struct Layer {
    LayerNorm ln1, ln2;
    Linear q, k, v, out, fc1, fc2;
  };
  ClipTextConfig config_;
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  LayerNorm final_ln_;
};

}  // namespace farm::model
