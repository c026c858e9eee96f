#include "farm/model/resnet.h"

#include "farm/core/error.h"

namespace farm::model {

void ResnetBlock::load(const WeightLoader& w, const std::string& prefix, int64_t in_, int64_t out_,
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

Tensor ResnetBlock::forward(Backend& be, const Tensor& x, const Tensor* temb) const {
  Tensor h = conv1.forward(be, norm1.forward(be, x, true));  // [B,H,W,out]
  add_time(be, h, temb);
  norm2.forward_in_place(be, h, true);
  if (conv_shortcut.out) {
    const Tensor shortcut = conv_shortcut.forward(be, x);
    return conv2.forward(be, h, &shortcut);
  }
  return conv2.forward(be, h, &x);
}

Tensor ResnetBlock::forward(Backend& be, Tensor&& x, const Tensor* temb) const {
  if (!conv_shortcut.out) return forward(be, static_cast<const Tensor&>(x), temb);  // x is the residual
  const Tensor shortcut = conv_shortcut.forward(be, x);
  norm1.forward_in_place(be, x, true);
  Tensor h = conv1.forward(be, x);
  x = Tensor();
  add_time(be, h, temb);
  norm2.forward_in_place(be, h, true);
  return conv2.forward(be, h, &shortcut);
}

void ResnetBlock::add_time(Backend& be, Tensor& h, const Tensor* temb) const {
  if (!temb || !time_emb_proj.out) return;
  Tensor t = be.empty(temb->shape);
  be.activation(kernels::Activation::silu, *temb, t);
  const Tensor proj = time_emb_proj.forward(be, t);  // [B, out]
  be.add_channel_bias(h, proj);
}

}  // namespace farm::model
