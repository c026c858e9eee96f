#include "farm/model/layers.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "farm/core/error.h"
#include "farm/model/lora.h"

namespace farm::model {

WeightLoader WeightLoader::random(std::string dir, uint64_t seed, Backend& backend) {
  return WeightLoader(std::move(dir), seed, backend);
}

Tensor WeightLoader::host(const std::string& key, const Shape& expected) const {
  if (store_) return store_->get(key, expected);
  drawn_.insert(key);
  Tensor t(expected);
  const bool bias = key.size() > 5 && key.compare(key.size() - 5, 5, ".bias") == 0;
  if (bias) return t;
  if (expected.size() == 1) {  // a norm's scale
    std::fill(t.data.begin(), t.data.end(), 1.0f);
    return t;
  }
  // FNV-1a of the key, mixed with the seed: a stream of its own per weight.
  uint64_t h = 1469598103934665603ull ^ seed_;
  for (const unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  std::mt19937_64 rng(h);
  std::uniform_real_distribution<float> u(-0.02f * std::sqrt(3.0f), 0.02f * std::sqrt(3.0f));
  for (float& v : t.data) v = u(rng);
  return t;
}

void Linear::load(const WeightLoader& w, const std::string& prefix, int64_t in_, int64_t out_, bool has_bias) {
  in = in_;
  out = out_;
  const std::string key = prefix + ".weight";
  if (w.contains(key) && w.shape_of(key).size() == 4)
    weight = w.place(std::move(w.host(key, {out, in, 1, 1})).reshaped({out, in}));
  else
    weight = w.get(key, {out, in});
  if (has_bias) bias = w.get(prefix + ".bias", {out});
  if (w.layer_index()) w.layer_index()->linear[prefix] = this;
}

void Linear::load_stacked(const WeightLoader& w, const std::vector<std::string>& prefixes, int64_t in_,
                          int64_t out_each) {
  in = in_;
  out = out_each * static_cast<int64_t>(prefixes.size());
  Tensor stacked({out, in});
  for (size_t i = 0; i < prefixes.size(); ++i) {
    const Tensor part = w.host(prefixes[i] + ".weight", {out_each, in});
    std::copy(part.ptr(), part.ptr() + part.size(), stacked.ptr() + static_cast<int64_t>(i) * out_each * in);
  }
  weight = w.place(std::move(stacked));
}

Tensor Linear::forward(Backend& be, const Tensor& x, const Tensor* residual) const {
  FARM_ASSERT(x.dim(-1) == in, shape_str(x.shape), " into linear ", in, "->", out);
  Shape s = x.shape;
  s.back() = out;
  if (residual) FARM_ASSERT(residual->shape == s, shape_str(residual->shape), " vs ", shape_str(s));
  Tensor y = be.empty(std::move(s));
  be.linear(x.dim(0), rows_per_sample(x), in, out, x, weight, bias.defined() ? &bias : nullptr, residual, y);
  if (!lora.empty()) return add_lora(be, x, std::move(y));
  return y;
}

Tensor geglu_forward(Backend& be, const Linear& proj, const Tensor& x) {
  FARM_ASSERT(x.dim(-1) == proj.in && proj.out % 2 == 0, shape_str(x.shape), " into GEGLU ", proj.in, "->", proj.out);
  Shape s = x.shape;
  s.back() = proj.out / 2;
  Tensor y = be.empty(s);
  if (!proj.lora.empty()) {  // the LoRA's update joins the projection before the gate
    const Tensor p = proj.forward(be, x);
    be.geglu(p.size() / p.dim(-1), s.back(), p, y);
    return y;
  }
  be.linear_geglu(x.dim(0), rows_per_sample(x), proj.in, s.back(), x, proj.weight,
                  proj.bias.defined() ? &proj.bias : nullptr, y);
  return y;
}

// y + up(down(x)) for each active LoRA that patches this layer, in the set's
// order; with no active set the output is the base layer's, untouched.
Tensor Linear::add_lora(Backend& be, const Tensor& x, Tensor y) const {
  const ActiveLoras* active = active_loras();
  if (!active) return y;
  const int64_t B = x.dim(0), rows = rows_per_sample(x);
  for (const ActiveLora& a : *active)
    for (const LoraPatch& p : lora) {
      if (p.adapter != a.adapter) continue;
      Shape ds = x.shape;
      ds.back() = p.rank;
      Tensor d = be.empty(std::move(ds));  // [..., rank]
      be.linear(B, rows, in, p.rank, x, p.down, nullptr, nullptr, d);
      Tensor sum = be.empty(y.shape);
      be.linear(B, rows, p.rank, out, d, (*a.ups)[p.slot], nullptr, &y, sum);
      y = std::move(sum);
    }
  return y;
}

Tensor oihw_to_ohwi(const Tensor& oihw) {
  FARM_ASSERT(oihw.shape.size() == 4 && oihw.dim(2) == oihw.dim(3), shape_str(oihw.shape));
  const int64_t out = oihw.dim(0), in = oihw.dim(1), kk = oihw.dim(2) * oihw.dim(3);
  Tensor ohwi({out, oihw.dim(2), oihw.dim(3), in});
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t k = 0; k < kk; ++k) ohwi.data[(o * kk + k) * in + i] = oihw.data[(o * in + i) * kk + k];
  return ohwi;
}

void Conv2d::load(const WeightLoader& w, const std::string& prefix, int64_t in_, int64_t out_, int kernel_,
                  int stride_) {
  in = in_;
  out = out_;
  kernel = kernel_;
  stride = stride_;
  pad = kernel / 2;
  weight = w.place(oihw_to_ohwi(w.host(prefix + ".weight", {out, in, kernel, kernel})));
  bias = w.get(prefix + ".bias", {out});
  if (w.layer_index()) w.layer_index()->conv[prefix] = this;
}

kernels::Conv2dArgs Conv2d::args(const Tensor& x, int64_t out_channels) const {
  kernels::Conv2dArgs a;
  a.batch = x.dim(0);
  a.in_h = x.dim(1);
  a.in_w = x.dim(2);
  a.in_c = in;
  a.out_c = out_channels;
  a.kernel = kernel;
  a.stride = stride;
  a.pad = pad;
  return a;
}

Tensor Conv2d::forward(Backend& be, const Tensor& x, const Tensor* residual) const {
  FARM_ASSERT(x.shape.size() == 4 && x.dim(3) == in, shape_str(x.shape), " into conv ", in, "->", out);
  const kernels::Conv2dArgs a = args(x, out);
  Tensor y = be.empty({a.batch, a.out_h(), a.out_w(), out});
  if (residual) FARM_ASSERT(residual->shape == y.shape, shape_str(residual->shape), " vs ", shape_str(y.shape));
  be.conv2d(a, x, weight, &bias, residual, y);
  if (!lora.empty()) return add_lora(be, x, std::move(y));
  return y;
}

Tensor Conv2d::forward_upsampled2x(Backend& be, const Tensor& x) const {
  FARM_ASSERT(x.shape.size() == 4 && x.dim(3) == in, shape_str(x.shape), " into conv ", in, "->", out);
  if (!lora.empty()) {  // a LoRA's down conv reads the upsampled input too
    Tensor up = be.empty({x.dim(0), 2 * x.dim(1), 2 * x.dim(2), x.dim(3)});
    be.upsample_nearest(x, up);
    return forward(be, up);
  }
  kernels::Conv2dArgs a = args(x, out);
  a.in_h *= 2;
  a.in_w *= 2;
  Tensor y = be.empty({a.batch, a.out_h(), a.out_w(), out});
  be.conv2d_upsampled2x(a, x, weight, &bias, y);
  return y;
}

// As Linear's: down is a conv with this layer's kernel, stride and padding
// (LoCon), up a linear over channels (a 1x1 conv).
Tensor Conv2d::add_lora(Backend& be, const Tensor& x, Tensor y) const {
  const ActiveLoras* active = active_loras();
  if (!active) return y;
  for (const ActiveLora& act : *active)
    for (const LoraPatch& p : lora) {
      if (p.adapter != act.adapter) continue;
      const kernels::Conv2dArgs a = args(x, p.rank);
      Tensor d = be.empty({a.batch, a.out_h(), a.out_w(), p.rank});
      be.conv2d(a, x, p.down, nullptr, nullptr, d);
      Tensor sum = be.empty(y.shape);
      be.linear(a.batch, a.out_h() * a.out_w(), p.rank, out, d, (*act.ups)[p.slot], nullptr, &y, sum);
      y = std::move(sum);
    }
  return y;
}

void GroupNorm::load(const WeightLoader& w, const std::string& prefix, int64_t channels_, int64_t groups_, float eps_) {
  channels = channels_;
  groups = groups_;
  eps = eps_;
  if (channels % groups != 0)
    fail(w.dir(), ": group norm '", prefix, "': ", channels, " channels do not divide into ", groups, " groups");
  gamma = w.get(prefix + ".weight", {channels});
  beta = w.get(prefix + ".bias", {channels});
}

Tensor GroupNorm::forward(Backend& be, const Tensor& x, bool silu) const {
  FARM_ASSERT(x.dim(-1) == channels, shape_str(x.shape));
  Tensor y = be.empty(x.shape);
  be.group_norm(x.dim(0), rows_per_sample(x), channels, groups, eps, x, gamma, beta, silu, y);
  return y;
}

void GroupNorm::forward_in_place(Backend& be, Tensor& x, bool silu) const {
  FARM_ASSERT(x.dim(-1) == channels, shape_str(x.shape));
  be.group_norm(x.dim(0), rows_per_sample(x), channels, groups, eps, x, gamma, beta, silu, x);
}

void RmsNorm::load(const WeightLoader& w, const std::string& prefix, int64_t channels_, float eps_) {
  channels = channels_;
  eps = eps_;
  gamma = w.get(prefix + ".weight", {channels});
}

Tensor RmsNorm::forward(Backend& be, const Tensor& x) const {
  FARM_ASSERT(x.size() % channels == 0, shape_str(x.shape), " into an RMS norm over ", channels);
  Tensor y = be.empty(x.shape);
  be.rms_norm(x.size() / channels, channels, eps, x, gamma, y);
  return y;
}

void LayerNorm::load(const WeightLoader& w, const std::string& prefix, int64_t channels_, float eps_) {
  channels = channels_;
  eps = eps_;
  gamma = w.get(prefix + ".weight", {channels});
  beta = w.get(prefix + ".bias", {channels});
}

Tensor LayerNorm::forward(Backend& be, const Tensor& x) const {
  FARM_ASSERT(x.dim(-1) == channels, shape_str(x.shape));
  Tensor y = be.empty(x.shape);
  be.layer_norm(x.size() / channels, channels, eps, x, gamma, beta, y);
  return y;
}

void MultiHeadAttention::load(const WeightLoader& w, const std::string& prefix, int64_t query_dim,
                              int64_t context_dim, int64_t heads_, int64_t head_dim_, bool qkv_bias) {
  heads = heads_;
  head_dim = head_dim_;
  const int64_t inner = heads * head_dim;
  const bool deprecated = !w.contains(prefix + ".to_q.weight") && w.contains(prefix + ".query.weight");
  to_q.load(w, prefix + (deprecated ? ".query" : ".to_q"), query_dim, inner, qkv_bias);
  to_k.load(w, prefix + (deprecated ? ".key" : ".to_k"), context_dim, inner, qkv_bias);
  to_v.load(w, prefix + (deprecated ? ".value" : ".to_v"), context_dim, inner, qkv_bias);
  to_out.load(w, prefix + (deprecated ? ".proj_attn" : ".to_out.0"), inner, query_dim, true);
}

Tensor MultiHeadAttention::forward(Backend& be, const Tensor& x, const Tensor* context,
                                   const Tensor* residual) const {
  const Tensor& ctx = context ? *context : x;
  const Tensor q = to_q.forward(be, x);    // [B, L, inner]
  const Tensor k = to_k.forward(be, ctx);  // [B, Lk, inner]
  const Tensor v = to_v.forward(be, ctx);
  const int64_t inner = heads * head_dim;
  kernels::AttentionArgs a;
  a.batch = x.dim(0);
  a.heads = heads;
  a.q_len = q.size() / (a.batch * inner);
  a.kv_len = k.size() / (a.batch * inner);
  a.head_dim = head_dim;
  a.q_stride = a.kv_stride = a.out_stride = inner;
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  Tensor o = be.empty(q.shape);
  be.attention(a, q, k, v, o);
  return to_out.forward(be, o, residual);
}

}  // namespace farm::model
