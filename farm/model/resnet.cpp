#include "farm/model/resnet.h"

#include "farm/core/error.h"

namespace farm::model {

void ResnetBlock::load(const WeightStore& w, const std::string& prefix, int64_t in_, int64_t out_,
                       int64_t temb_channels, int64_t groups, float eps) {
  in = in_;
  out = out_;
  norm1.load(w, prefix + ".norm1", in, groups, eps);
  conv1.load(w, prefix + ".conv1", in, out, 3);
  if (temb_channels > 0) time_emb_proj.load(w, prefix + ".time_emb_proj", temb_channels, out);
  norm2.load(w, prefix + ".norm2", out, groups, eps);
  conv2.load(w, prefix + ".conv2", out, out, 3);
  if (in != out) conv_shortcut.load(w, prefix + ".conv_shortcut", in, out, 1);
}

Tensor ResnetBlock::forward(const Ops& ops, const Tensor& x, const Tensor* temb) const {
  Tensor h = conv1.forward(ops, norm1.forward(ops, x, true));  // [B,H,W,out]
  if (temb && time_emb_proj.out) {
    Tensor t(temb->shape);
    ops.silu(t.size(), temb->ptr(), t.ptr());
    const Tensor proj = time_emb_proj.forward(ops, t);  // [B, out]
    const int64_t B = h.dim(0), hw = h.size() / (B * out);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < hw; ++i)
        for (int64_t c = 0; c < out; ++c) h.data[(b * hw + i) * out + c] += proj.data[b * out + c];
  }
  h = norm2.forward(ops, h, true);
  if (conv_shortcut.out) {
    const Tensor shortcut = conv_shortcut.forward(ops, x);
    return conv2.forward(ops, h, &shortcut);
  }
  return conv2.forward(ops, h, &x);
}

}  // namespace farm::model
