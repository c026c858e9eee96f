// ZImageTransformer2DModel (diffusers) as a block list: Z-Image's
// single-stream DiT. Per item (each sample runs at its own lengths, as
// diffusers' padded batch with its key mask gives the same rows):
//
//   embed           t_embedder (256-wide [cos|sin] of t·t_scale, Linear 256→1024,
//                   SiLU, Linear → adaLN width min(dim, 256)); patchify 2×2 with
//                   the channel fastest (Backend::patchify, on the device),
//                   x_embedder; caption RMSNorm + Linear;
//                   both streams padded to a multiple of 32 with the learned pad
//                   rows (not masked); 3-axis position ids and their RoPE tables
//   noise_refiner.i    modulated blocks on the image tokens
//   context_refiner.i  unmodulated blocks on the caption tokens (no t: per prompt)
//   layers.i        modulated blocks on the unified [image | caption] sequence
//   final_layer     LayerNorm (no affine) · (1 + Linear(SiLU(t))), Linear → patches,
//                   the image rows unpatchified on the device, then to the host
//
// A block: x += tanh(g_msa)·RMSNorm(attn(RMSNorm(x)·(1+s_msa))), then the same
// with the SwiGLU FFN w2(silu(w1 h)·w3 h); attention without biases, RMSNorm
// per head on q and k (eps 1e-5), interleaved-pair RoPE, full attention.
// The output is the model's (ZImagePipeline negates it; the caller does).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "farm/model/block_list.h"
#include "farm/model/layers.h"

namespace farm::model {

struct ZImageDitConfig {
  int64_t in_channels = 16, dim = 3840, layers = 30, refiner_layers = 2, heads = 30;
  int64_t patch = 2, cap_feat_dim = 2560;
  float norm_eps = 1e-5f;
  double rope_theta = 256.0;
  float t_scale = 1000.0f;
  std::vector<int64_t> axes_dims{32, 48, 48}, axes_lens{1024, 512, 512};

  int64_t head_dim() const { return dim / heads; }
  int64_t ffn_dim() const { return dim / 3 * 8; }  // int(dim / 3 * 8), as diffusers
  int64_t adaln_dim() const { return dim < 256 ? dim : 256; }
  int64_t patch_dim() const { return patch * patch * in_channels; }
  // transformer/config.json; errors name the file and field.
  static ZImageDitConfig load(const std::string& path);
};

enum class DitBlockKind { embed, noise_refiner, context_refiner, layer, final_layer };
const char* block_kind_name(DitBlockKind k);

struct DitBlockDesc {
  DitBlockKind kind = DitBlockKind::layer;
  std::string name;  // checkpoint prefix: "noise_refiner.0", "layers.7", ...
  int64_t index = -1;
};

// One item's state inside the DiT.
struct DitState {
  // Inputs: host latents [1, H, W, C] (NHWC), the caption's rows on the
  // backend [1, L, cap_feat_dim], the pipeline's t (1 − σ).
  Tensor latents, caption;
  float t = 0.0f;
  // Set by embed: the adaLN input [1, adaln_dim], the padded streams [1, N, dim],
  // their RoPE tables (host [N, head_dim/2, 2]), the real image rows.
  Tensor adaln, x, cap, x_rope, cap_rope;
  int64_t image_rows = 0, h_tokens = 0, w_tokens = 0;
  Tensor unified, unified_rope;  // set by the first main layer: [image | caption]
  Tensor out;                    // set by final_layer: host [1, H, W, C]
};

class ZImageDit {
 public:
  explicit ZImageDit(ZImageDitConfig c);
  const ZImageDitConfig& config() const { return config_; }

  // Blocks [begin, end) only (a pipeline stage's share); the whole model by default.
  void load(const WeightLoader& w, size_t begin = 0, size_t end = SIZE_MAX);
  // latents host [1, H, W, C]; caption [L, cap_feat_dim] (host or backend) -> host [1, H, W, C].
  Tensor forward(Backend& be, const Tensor& latents, const Tensor& caption, float t) const;

  const std::vector<DitBlockDesc>& blocks() const { return blocks_; }
  std::vector<BlockRef> block_list(ModelPart part) const;
  // A state from another stage may come without RoPE tables (they are not
  // sent across cuts): run rebuilds them from the token grid and lengths.
  void run(Backend& be, DitState& s, size_t begin, size_t end) const;
  void restore_rope(DitState& s) const;
  // The parameters block i reads, from the config alone (the cost model's and
  // `farm plan`'s; config-only folders have no weights).
  int64_t block_params(size_t i) const;

  struct Block {
    RmsNorm attention_norm1, attention_norm2, ffn_norm1, ffn_norm2, norm_q, norm_k;
    Linear q, k, v, out, w13, w2;
    std::array<Linear, 4> mod;  // scale_msa, gate_msa, scale_mlp, gate_mlp (modulated blocks)
    bool modulated = true;
  };

 private:
  void embed(Backend& be, DitState& s) const;
  void run_block(Backend& be, const Block& b, Tensor& x, const Tensor& rope, const Tensor* adaln) const;
  void final_layer(Backend& be, DitState& s) const;
  Tensor rope_table(const std::vector<std::array<int64_t, 3>>& ids) const;
  static std::vector<std::array<int64_t, 3>> caption_ids(int64_t cap_rows);
  static std::vector<std::array<int64_t, 3>> image_ids(int64_t h_tokens, int64_t w_tokens, int64_t pads,
                                                      int64_t cap_rows);

  ZImageDitConfig config_;
  std::vector<DitBlockDesc> blocks_;
  Linear t_mlp0_, t_mlp2_, x_embedder_, cap_linear_, final_mod_, final_linear_;
  RmsNorm cap_norm_;
  LayerNorm final_norm_;
  Tensor x_pad_, cap_pad_;  // host [dim]
  std::vector<Block> noise_refiner_, context_refiner_, layers_;
};

}  // namespace farm::model
