// The layers models are built from, each holding its weights (placed once on
// the backend at load, in the layout its ops want) and calling the backend to
// run. Parameter paths equal the checkpoint keys (prefix + ".weight").
// Every activation's first dimension is the batch.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "farm/core/tensor.h"
#include "farm/io/weight_store.h"
#include "kernels/backend.h"

namespace farm::model {

using kernels::Backend;

struct Linear;
struct Conv2d;
class LoraAdapter;

// The layers a loader filled that a LoRA can patch, by checkpoint prefix
// (farm/model/lora.h). Layers do not move once loaded, so pointers hold.
struct LayerIndex {
  std::map<std::string, Linear*> linear;
  std::map<std::string, Conv2d*> conv;
};

// One LoRA's low-rank update on one layer: y += up(down(x)). The up weight is
// not here: it is scaled by the set's weight, so the active set carries it
// (LoraAdapter::scaled_ups, indexed by `slot`).
struct LoraPatch {
  const LoraAdapter* adapter = nullptr;
  size_t slot = 0;
  Tensor down;  // Linear: [rank, in]; Conv2d: [rank, k, k, in], the base conv's kernel/stride/pad
  int64_t rank = 0;
};

// Reads weights from a model part's files and places each on the backend once
// (converted there to the backend's dtype). `host` reads without placing, for
// weights that are rearranged on the host first (conv kernels to [out,k,k,in]).
//
// Or, for benchmarks on config-only folders (`farm render --random-weights`),
// draws each weight from a seed and its key instead of reading it: the same
// values on every rank whatever the partition, norm scales 1, biases 0,
// other weights uniform with std 0.02.
class WeightLoader {
 public:
  WeightLoader(const WeightStore& store, Backend& backend) : store_(&store), backend_(backend) {}
  static WeightLoader random(std::string dir, uint64_t seed, Backend& backend);

  const std::string& dir() const { return store_ ? store_->dir() : dir_; }
  bool contains(const std::string& key) const { return !store_ || store_->contains(key); }
  // As stored; empty for random weights (the canonical layout is drawn).
  Shape shape_of(const std::string& key) const { return store_ ? store_->shape_of(key) : Shape{}; }
  Tensor host(const std::string& key, const Shape& expected) const;
  Tensor place(Tensor host_f32) const { return backend_.weight(std::move(host_f32)); }
  Tensor get(const std::string& key, const Shape& expected) const { return place(host(key, expected)); }
  // Every key read (random weights: drawn), and their parameters.
  const std::set<std::string>& keys() const { return store_ ? store_->loaded_keys() : drawn_; }
  // Where Linear/Conv2d::load record themselves (null: nowhere).
  void index_layers(LayerIndex* index) { index_ = index; }
  LayerIndex* layer_index() const { return index_; }

 private:
  WeightLoader(std::string dir, uint64_t seed, Backend& backend) : dir_(std::move(dir)), seed_(seed), backend_(backend) {}
  const WeightStore* store_ = nullptr;
  std::string dir_;
  uint64_t seed_ = 0;
  Backend& backend_;
  mutable std::set<std::string> drawn_;
  LayerIndex* index_ = nullptr;
};

// [out, in, k, k] (checkpoint) -> [out, k, k, in] (NHWC conv weights).
Tensor oihw_to_ohwi(const Tensor& oihw);

// y[..., out] = x[..., in] · W^T + b. Also accepts 1×1 conv weights
// [out, in, 1, 1] (a 1×1 conv over NHWC is a linear layer over channels).
struct Linear {
  Tensor weight, bias;  // [out, in], [out] (empty when no bias)
  int64_t in = 0, out = 0;
  std::vector<LoraPatch> lora;  // applied when their LoRA is active on this thread

  void load(const WeightLoader& w, const std::string& prefix, int64_t in, int64_t out, bool has_bias = true);
  // Several bias-free projections of the same input stacked into one
  // [Σ out, in] weight (SwiGLU's gate and up: one GEMM, then swiglu).
  void load_stacked(const WeightLoader& w, const std::vector<std::string>& prefixes, int64_t in, int64_t out_each);
  Tensor forward(Backend& be, const Tensor& x, const Tensor* residual = nullptr) const;

 private:
  Tensor add_lora(Backend& be, const Tensor& x, Tensor y) const;
};

// NHWC convolution; the checkpoint's [out, in, k, k] is stored as [out, k, k, in].
// GEGLU's projection and gate: geglu(proj(x)) (diffusers' GEGLU), one
// backend op where no LoRA patches the projection.
Tensor geglu_forward(Backend& be, const Linear& proj, const Tensor& x);

struct Conv2d {
  Tensor weight, bias;
  int64_t in = 0, out = 0;
  int kernel = 3, stride = 1, pad = 1;
  std::vector<LoraPatch> lora;  // as Linear's; down is a conv like this one, up a 1x1

  void load(const WeightLoader& w, const std::string& prefix, int64_t in, int64_t out, int kernel, int stride = 1);
  Tensor forward(Backend& be, const Tensor& x, const Tensor* residual = nullptr) const;  // x [B,H,W,in]
  // forward() of x upsampled 2× (nearest), without the upsampled tensor
  // where the backend can (Backend::conv2d_upsampled2x).
  Tensor forward_upsampled2x(Backend& be, const Tensor& x) const;

 private:
  kernels::Conv2dArgs args(const Tensor& x, int64_t out_channels) const;
  Tensor add_lora(Backend& be, const Tensor& x, Tensor y) const;
};

struct GroupNorm {
  Tensor gamma, beta;
  int64_t channels = 0, groups = 32;
  float eps = 1e-5f;

  void load(const WeightLoader& w, const std::string& prefix, int64_t channels, int64_t groups, float eps);
  Tensor forward(Backend& be, const Tensor& x, bool silu) const;  // x [B, ..., C]
  void forward_in_place(Backend& be, Tensor& x, bool silu) const;  // x = forward(x)
};

// RMS norm over the last dim (Qwen3RMSNorm): y = x · rsqrt(mean(x²) + eps) · gamma.
// Also per head: a [..., heads · head_dim] tensor normed over head_dim rows.
struct RmsNorm {
  Tensor gamma;
  int64_t channels = 0;
  float eps = 1e-6f;

  void load(const WeightLoader& w, const std::string& prefix, int64_t channels, float eps);
  Tensor forward(Backend& be, const Tensor& x) const;  // over every `channels` elements
};

struct LayerNorm {
  Tensor gamma, beta;
  int64_t channels = 0;
  float eps = 1e-5f;

  void load(const WeightLoader& w, const std::string& prefix, int64_t channels, float eps);
  Tensor forward(Backend& be, const Tensor& x) const;  // over the last dim
};

// Multi-head attention as diffusers' Attention (to_q/to_k/to_v/to_out.0):
// self-attention when context is null, else cross-attention over context.
struct MultiHeadAttention {
  Linear to_q, to_k, to_v, to_out;
  int64_t heads = 1, head_dim = 0;

  // Also reads the pre-0.14 diffusers names (query/key/value/proj_attn) that
  // many published SD 1.x VAE checkpoints still carry.
  void load(const WeightLoader& w, const std::string& prefix, int64_t query_dim, int64_t context_dim,
            int64_t heads, int64_t head_dim, bool qkv_bias);
  // x [B, L, query_dim], context [B, Lk, context_dim] -> [B, L, query_dim] (+ residual)
  Tensor forward(Backend& be, const Tensor& x, const Tensor* context, const Tensor* residual) const;
};

// Element counts per sample, for ops that loop over the batch.
inline int64_t rows_per_sample(const Tensor& x) { return x.size() / (x.dim(0) * x.dim(-1)); }

}  // namespace farm::model
