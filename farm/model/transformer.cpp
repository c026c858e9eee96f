#include "farm/model/transformer.h"

#include "farm/core/error.h"

namespace farm::model {

void BasicTransformerBlock::load(const WeightLoader& w, const std::string& prefix, int64_t dim, int64_t context_dim,
                                 int64_t heads) {
  if (dim % heads != 0) fail(w.dir(), ": '", prefix, "': ", dim, " channels do not divide into ", heads, " heads");
  const int64_t head_dim = dim / heads;
  norm1.load(w, prefix + ".norm1", dim, 1e-5f);
  attn1.load(w, prefix + ".attn1", dim, dim, heads, head_dim, false);
  norm2.load(w, prefix + ".norm2", dim, 1e-5f);
  attn2.load(w, prefix + ".attn2", dim, context_dim, heads, head_dim, false);
  norm3.load(w, prefix + ".norm3", dim, 1e-5f);
  ff_in.load(w, prefix + ".ff.net.0.proj", dim, 2 * 4 * dim);
  ff_out.load(w, prefix + ".ff.net.2", 4 * dim, dim);
}

Tensor BasicTransformerBlock::forward(Backend& be, const Tensor& x, const Tensor& context) const {
  Tensor h = attn1.forward(be, norm1.forward(be, x), nullptr, &x);  // [B, L, dim]
  h = attn2.forward(be, norm2.forward(be, h), &context, &h);
  const Tensor gated = geglu_forward(be, ff_in, norm3.forward(be, h));  // [B, L, 4·dim]
  return ff_out.forward(be, gated, &h);
}

void Transformer2D::load(const WeightLoader& w, const std::string& prefix, int64_t channels_, int64_t context_dim,
                         int64_t heads, int64_t layers, int64_t groups) {
  channels = channels_;
  norm.load(w, prefix + ".norm", channels, groups, 1e-6f);
  proj_in.load(w, prefix + ".proj_in", channels, channels);
  blocks.resize(static_cast<size_t>(layers));
  for (int64_t i = 0; i < layers; ++i)
    blocks[i].load(w, cat(prefix, ".transformer_blocks.", i), channels, context_dim, heads);
  proj_out.load(w, prefix + ".proj_out", channels, channels);
}

Tensor Transformer2D::forward(Backend& be, const Tensor& x, const Tensor& context) const {
  const int64_t B = x.dim(0), H = x.dim(1), W = x.dim(2);
  Tensor h = proj_in.forward(be, norm.forward(be, x, false));  // [B,H,W,C] == [B, HW, C]
  h = std::move(h).reshaped({B, H * W, channels});
  for (const auto& blk : blocks) h = blk.forward(be, h, context);
  h = std::move(h).reshaped({B, H, W, channels});
  return proj_out.forward(be, h, &x);
}

}  // namespace farm::model
