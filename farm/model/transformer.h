// Transformer2DModel as SD's UNet uses it: group norm, proj_in (1×1 conv or
// linear: the same op over NHWC), BasicTransformerBlocks (self-attention,
// cross-attention, GEGLU feed-forward, each pre-norm with a residual),
// proj_out, plus the block input as residual.
#pragma once

#include <vector>

#include "farm/model/layers.h"

namespace farm::model {

struct BasicTransformerBlock {
  LayerNorm norm1, norm2, norm3;
  MultiHeadAttention attn1, attn2;
  Linear ff_in, ff_out;  // ff.net.0.proj (dim -> 2·4·dim, GEGLU), ff.net.2 (4·dim -> dim)

  void load(const WeightLoader& w, const std::string& prefix, int64_t dim, int64_t context_dim, int64_t heads);
  Tensor forward(Backend& be, const Tensor& x, const Tensor& context) const;  // x [B, L, dim]
};

struct Transformer2D {
  GroupNorm norm;
  Linear proj_in, proj_out;
  std::vector<BasicTransformerBlock> blocks;
  int64_t channels = 0;

  void load(const WeightLoader& w, const std::string& prefix, int64_t channels, int64_t context_dim, int64_t heads,
            int64_t layers, int64_t groups);
  // x [B,H,W,C], context [B, Lk, context_dim] -> [B,H,W,C]
  Tensor forward(Backend& be, const Tensor& x, const Tensor& context) const;
};

}  // namespace farm::model
