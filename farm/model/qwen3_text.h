// Qwen3Model (transformers) as Z-Image's text encoder: token embeddings (no
// learned positions), pre-norm decoder layers (RMSNorm; q/k/v without bias;
// RMSNorm per head on q and k; rotate-half RoPE; causal grouped-query
// attention; o_proj and residual; RMSNorm; SwiGLU MLP and residual), final
// RMSNorm.
//
// A block list like every part: embed_tokens, each layer used, and the final
// norm only when every layer is used. ZImagePipeline reads hidden_states[-2]
// (the state after the second-to-last layer, before the norm), so it builds
// the encoder with layers_used = layers - 1: the last layer and the norm are
// never loaded nor run.
//
// Prompts run one per state at their own length: diffusers' padded batch with
// an attention mask gives the same rows for real tokens (causal: a real token
// never sees the padding after it).
#pragma once

#include <string>
#include <vector>

#include "farm/model/block_list.h"
#include "farm/model/layers.h"
#include "farm/model/text_state.h"

namespace farm::model {

struct Qwen3Config {
  int64_t vocab_size = 151936, hidden_size = 2560, intermediate_size = 9728;
  int64_t layers = 36, heads = 32, kv_heads = 8, head_dim = 128;
  int64_t max_positions = 40960;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 1e6;

  // config.json of a Qwen3Model / Qwen3ForCausalLM; errors name the file and
  // field, and refuse what the encoder does not do (biases, rope scaling,
  // sliding windows, other activations).
  static Qwen3Config load(const std::string& path);
};

enum class Qwen3BlockKind { embed_tokens, layer, norm };

struct Qwen3BlockDesc {
  Qwen3BlockKind kind = Qwen3BlockKind::layer;
  std::string name;  // checkpoint prefix: "embed_tokens", "layers.3", "norm"
  int64_t layer = -1;
};

class Qwen3TextEncoder {
 public:
  Qwen3TextEncoder(Qwen3Config c, int64_t layers_used);
  const Qwen3Config& config() const { return config_; }
  int64_t layers_used() const { return layers_used_; }

  void load(const WeightLoader& w);
  // One prompt's ids [L] -> the state after the blocks: [1, L, hidden], on the backend.
  Tensor forward(Backend& be, const std::vector<int64_t>& ids) const;

  const std::vector<Qwen3BlockDesc>& blocks() const { return blocks_; }
  std::vector<BlockRef> block_list(ModelPart part) const;
  // Blocks [begin, end) on a state of equal-length sequences (s.batch of them).
  void run(Backend& be, TextState& s, size_t begin, size_t end) const;
  // The parameters block i reads, from the config alone.
  int64_t block_params(size_t i) const;

 private:
  void run_layer(Backend& be, TextState& s, int64_t i) const;

  struct Layer {
    RmsNorm input_norm, post_attention_norm, q_norm, k_norm;
    Linear q, k, v, o, gate_up, down;
  };
  Qwen3Config config_;
  int64_t layers_used_ = 0;
  std::vector<Qwen3BlockDesc> blocks_;
  Tensor embed_tokens_;
  std::vector<Layer> layers_;
  RmsNorm norm_;
};

}  // namespace farm::model
