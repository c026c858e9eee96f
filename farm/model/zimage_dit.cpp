#include "farm/model/zimage_dit.h"

#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/io/json_config.h"

namespace farm::model {
namespace {

constexpr int64_t kSeqMultiple = 32;  // diffusers' SEQ_MULTI_OF: both streams pad to it
constexpr int64_t kFrequencyWidth = 256;
constexpr int64_t kTimeMid = 1024;  // TimestepEmbedder's mid_size, fixed in diffusers
constexpr float kQkNormEps = 1e-5f;  // Attention's qk_norm eps, fixed in diffusers (not norm_eps)
constexpr float kFinalNormEps = 1e-6f;

int64_t padding_of(int64_t n) { return (kSeqMultiple - n % kSeqMultiple) % kSeqMultiple; }

// [1, Na, D] and [1, Nb, D] -> [1, Na + Nb, D]: a channel concat of the two
// flattened to one pixel each.
Tensor concat_rows(Backend& be, const Tensor& a, const Tensor& b) {
  const int64_t D = a.dim(2);
  Tensor y = be.empty({1, 1, (a.dim(1) + b.dim(1)) * D});
  be.concat_channels(Tensor(a).reshaped({1, 1, a.dim(1) * D}), Tensor(b).reshaped({1, 1, b.dim(1) * D}), y);
  return std::move(y).reshaped({1, a.dim(1) + b.dim(1), D});
}

// `rows` copies of a learned pad row (host [dim]) after x, on the backend.
Tensor pad_with(Backend& be, const Tensor& x, const Tensor& pad_row, int64_t rows) {
  if (rows == 0) return x;
  const int64_t D = pad_row.size();
  Tensor pad({1, rows, D});
  for (int64_t r = 0; r < rows; ++r) std::copy(pad_row.ptr(), pad_row.ptr() + D, pad.ptr() + r * D);
  return concat_rows(be, x, be.to_backend(pad));
}

}  // namespace

ZImageDitConfig ZImageDitConfig::load(const std::string& path) {
  const JsonConfig c = JsonConfig::load(path);
  ZImageDitConfig z;
  if (c.has("all_patch_size") && c.get_int_list("all_patch_size") != std::vector<int64_t>{2})
    c.bad("all_patch_size", "expected [2] (Z-Image's 2x2 patches)");
  if (c.has("all_f_patch_size") && c.get_int_list("all_f_patch_size") != std::vector<int64_t>{1})
    c.bad("all_f_patch_size", "expected [1] (images: one frame)");
  if (c.has("siglip_feat_dim")) c.bad("siglip_feat_dim", "is set: the Omni variant is not supported");
  if (!c.get_bool("qk_norm", true)) c.bad("qk_norm", "false is not supported (Z-Image normalizes q and k)");
  z.in_channels = c.get_int("in_channels", 16);
  z.dim = c.get_int("dim");
  z.layers = c.get_int("n_layers");
  z.refiner_layers = c.get_int("n_refiner_layers", 2);
  z.heads = c.get_int("n_heads");
  z.cap_feat_dim = c.get_int("cap_feat_dim");
  z.norm_eps = static_cast<float>(c.get_number("norm_eps", 1e-5));
  z.rope_theta = c.get_number("rope_theta", 256.0);
  z.t_scale = static_cast<float>(c.get_number("t_scale", 1000.0));
  z.axes_dims = c.get_int_list("axes_dims");
  z.axes_lens = c.get_int_list("axes_lens");
  if (z.in_channels <= 0) c.bad("in_channels", "must be positive");
  if (z.heads <= 0 || z.dim <= 0 || z.dim % z.heads != 0)
    c.bad("n_heads", cat("dim ", z.dim, " does not divide into ", z.heads, " heads"));
  // The block list holds one entry per layer: bounded, as a config is untrusted input.
  if (z.layers <= 0 || z.layers > 4096) c.bad("n_layers", "expected 1..4096");
  if (z.refiner_layers < 0 || z.refiner_layers > 4096) c.bad("n_refiner_layers", "expected 0..4096");
  if (z.cap_feat_dim <= 0) c.bad("cap_feat_dim", "must be positive");
  if (!(z.norm_eps > 0.0f)) c.bad("norm_eps", "must be positive");
  if (!(z.rope_theta > 1.0)) c.bad("rope_theta", "expected a base above 1");
  if (z.axes_dims.size() != 3 || z.axes_lens.size() != 3)
    c.bad("axes_dims", "expected 3 axes (frame/caption, height, width) with 3 axes_lens");
  int64_t sum = 0;
  for (size_t a = 0; a < 3; ++a) {
    if (z.axes_dims[a] <= 0 || z.axes_dims[a] % 2 != 0) c.bad("axes_dims", "each axis needs a positive even width");
    if (z.axes_lens[a] <= 0) c.bad("axes_lens", "each axis needs a positive length");
    sum += z.axes_dims[a];
  }
  if (sum != z.head_dim()) c.bad("axes_dims", cat("sum to ", sum, ", expected the head dim ", z.head_dim()));
  return z;
}

const char* block_kind_name(DitBlockKind k) {
  switch (k) {
    case DitBlockKind::embed: return "embed";
    case DitBlockKind::noise_refiner: return "noise_refiner";
    case DitBlockKind::context_refiner: return "context_refiner";
    case DitBlockKind::layer: return "layer";
    case DitBlockKind::final_layer: return "final_layer";
  }
  return "?";
}

ZImageDit::ZImageDit(ZImageDitConfig c) : config_(std::move(c)) {
  blocks_.push_back({DitBlockKind::embed, "embed"});
  for (int64_t i = 0; i < config_.refiner_layers; ++i)
    blocks_.push_back({DitBlockKind::noise_refiner, cat("noise_refiner.", i), i});
  for (int64_t i = 0; i < config_.refiner_layers; ++i)
    blocks_.push_back({DitBlockKind::context_refiner, cat("context_refiner.", i), i});
  for (int64_t i = 0; i < config_.layers; ++i) blocks_.push_back({DitBlockKind::layer, cat("layers.", i), i});
  blocks_.push_back({DitBlockKind::final_layer, "all_final_layer.2-1"});
}

std::vector<BlockRef> ZImageDit::block_list(ModelPart part) const {
  std::vector<BlockRef> r;
  for (const auto& b : blocks_) r.push_back({part, b.name, block_kind_name(b.kind)});
  return r;
}

int64_t ZImageDit::block_params(size_t i) const {
  const auto& c = config_;
  const int64_t D = c.dim, A = c.adaln_dim(), F = c.ffn_dim(), hd = c.head_dim();
  const int64_t unmodulated = 4 * D * D + 2 * hd + 4 * D + 3 * D * F;  // q k v out, q/k norms, 4 norms, FFN
  switch (blocks_.at(i).kind) {
    case DitBlockKind::embed:  // t MLP, x embedder, caption norm + linear, the two pad rows
      return (kFrequencyWidth * kTimeMid + kTimeMid) + (kTimeMid * A + A) + (c.patch_dim() * D + D) +
             (c.cap_feat_dim + c.cap_feat_dim * D + D) + 2 * D;
    case DitBlockKind::noise_refiner:
    case DitBlockKind::layer: return unmodulated + A * 4 * D + 4 * D;  // + adaLN
    case DitBlockKind::context_refiner: return unmodulated;
    case DitBlockKind::final_layer: return (A * D + D) + (D * c.patch_dim() + c.patch_dim());
  }
  return 0;
}

namespace {

void load_block(const WeightLoader& w, const ZImageDitConfig& c, const std::string& p, bool modulated,
                ZImageDit::Block& b) {
  const int64_t D = c.dim, hd = c.head_dim();
  b.modulated = modulated;
  b.attention_norm1.load(w, p + "attention_norm1", D, c.norm_eps);
  b.attention_norm2.load(w, p + "attention_norm2", D, c.norm_eps);
  b.ffn_norm1.load(w, p + "ffn_norm1", D, c.norm_eps);
  b.ffn_norm2.load(w, p + "ffn_norm2", D, c.norm_eps);
  b.norm_q.load(w, p + "attention.norm_q", hd, kQkNormEps);
  b.norm_k.load(w, p + "attention.norm_k", hd, kQkNormEps);
  b.q.load(w, p + "attention.to_q", D, D, false);
  b.k.load(w, p + "attention.to_k", D, D, false);
  b.v.load(w, p + "attention.to_v", D, D, false);
  b.out.load(w, p + "attention.to_out.0", D, D, false);
  b.w13.load_stacked(w, {p + "feed_forward.w1", p + "feed_forward.w3"}, D, c.ffn_dim());
  b.w2.load(w, p + "feed_forward.w2", c.ffn_dim(), D, false);
  if (!modulated) return;
  // adaLN_modulation's [4·dim] output chunks as four projections, so no op slices.
  const Tensor weight = w.host(p + "adaLN_modulation.0.weight", {4 * D, c.adaln_dim()});
  const Tensor bias = w.host(p + "adaLN_modulation.0.bias", {4 * D});
  for (int64_t i = 0; i < 4; ++i) {
    Tensor wi({D, c.adaln_dim()}), bi({D});
    std::copy(weight.ptr() + i * D * c.adaln_dim(), weight.ptr() + (i + 1) * D * c.adaln_dim(), wi.ptr());
    std::copy(bias.ptr() + i * D, bias.ptr() + (i + 1) * D, bi.ptr());
    Linear& l = b.mod[static_cast<size_t>(i)];
    l.in = c.adaln_dim(), l.out = D;
    l.weight = w.place(std::move(wi));
    l.bias = w.place(std::move(bi));
  }
}

}  // namespace

void ZImageDit::load(const WeightLoader& w, size_t begin, size_t end) {
  const auto& c = config_;
  end = std::min(end, blocks_.size());
  noise_refiner_.resize(static_cast<size_t>(c.refiner_layers));
  context_refiner_.resize(static_cast<size_t>(c.refiner_layers));
  layers_.resize(static_cast<size_t>(c.layers));
  for (size_t i = begin; i < end; ++i) {
    const auto& b = blocks_[i];
    const auto at = static_cast<size_t>(b.index);
    switch (b.kind) {
      case DitBlockKind::embed:
        t_mlp0_.load(w, "t_embedder.mlp.0", kFrequencyWidth, kTimeMid);
        t_mlp2_.load(w, "t_embedder.mlp.2", kTimeMid, c.adaln_dim());
        x_embedder_.load(w, "all_x_embedder.2-1", c.patch_dim(), c.dim);
        cap_norm_.load(w, "cap_embedder.0", c.cap_feat_dim, c.norm_eps);
        cap_linear_.load(w, "cap_embedder.1", c.cap_feat_dim, c.dim);
        x_pad_ = std::move(w.host("x_pad_token", {1, c.dim})).reshaped({c.dim});
        cap_pad_ = std::move(w.host("cap_pad_token", {1, c.dim})).reshaped({c.dim});
        break;
      case DitBlockKind::noise_refiner: load_block(w, c, b.name + ".", true, noise_refiner_[at]); break;
      case DitBlockKind::context_refiner: load_block(w, c, b.name + ".", false, context_refiner_[at]); break;
      case DitBlockKind::layer: load_block(w, c, b.name + ".", true, layers_[at]); break;
      case DitBlockKind::final_layer: {
        final_mod_.load(w, "all_final_layer.2-1.adaLN_modulation.1", c.adaln_dim(), c.dim);
        final_linear_.load(w, "all_final_layer.2-1.linear", c.dim, c.patch_dim());
        // LayerNorm(elementwise_affine=False): unit scale, zero shift.
        Tensor ones({c.dim}), zeros({c.dim});
        std::fill(ones.data.begin(), ones.data.end(), 1.0f);
        final_norm_.channels = c.dim;
        final_norm_.eps = kFinalNormEps;
        final_norm_.gamma = w.place(std::move(ones));
        final_norm_.beta = w.place(std::move(zeros));
        break;
      }
    }
  }
}

// Interleaved-pair RoPE per token from its 3-axis ids, as diffusers' RopeEmbedder:
// freq = 1 / theta^(2k / d_axis) and the angle pos · freq in fp64, cast to fp32,
// cos/sin in fp32 (torch.polar on the fp32 angles).
Tensor ZImageDit::rope_table(const std::vector<std::array<int64_t, 3>>& ids) const {
  const auto& c = config_;
  const int64_t half = c.head_dim() / 2;
  Tensor table({static_cast<int64_t>(ids.size()), half, 2});
  float* t = table.ptr();
  for (const auto& id : ids) {
    for (size_t a = 0; a < 3; ++a) {
      if (id[a] >= c.axes_lens[a])
        fail("Z-Image transformer: position ", id[a], " on axis ", a, " is past its axes_lens ", c.axes_lens[a],
             " (a caption or image too long for this model)");
      const int64_t d = c.axes_dims[a];
      for (int64_t k = 0; k < d / 2; ++k) {
        const double freq = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * k) / static_cast<double>(d));
        const auto angle = static_cast<float>(static_cast<double>(id[a]) * freq);
        *t++ = std::cos(angle);
        *t++ = std::sin(angle);
      }
    }
  }
  return table;
}

void ZImageDit::embed(Backend& be, DitState& s) const {
  const auto& c = config_;
  // The timestep: t · t_scale, [cos | sin] over 256, the two-layer MLP.
  Tensor t({1});
  t.data[0] = s.t * c.t_scale;
  Tensor freq = be.empty({1, kFrequencyWidth});
  be.timestep_embedding(t, kFrequencyWidth, true, 0.0f, 10000.0f, freq);
  Tensor mid = t_mlp0_.forward(be, freq);
  be.activation(kernels::Activation::silu, mid, mid);
  s.adaln = t_mlp2_.forward(be, mid);

  // Patchify: token (i, j) holds the 2x2 patch's values in (ph, pw, c) order.
  const Tensor& lat = s.latents;
  FARM_ASSERT(lat.shape.size() == 4 && lat.dim(0) == 1 && lat.dim(3) == c.in_channels, shape_str(lat.shape));
  const int64_t H = lat.dim(1), W = lat.dim(2), p = c.patch;
  if (H % p != 0 || W % p != 0) fail("Z-Image transformer: latents ", H, "x", W, " are not a multiple of the 2x2 patch");
  s.h_tokens = H / p, s.w_tokens = W / p;
  s.image_rows = s.h_tokens * s.w_tokens;
  Tensor patches = be.empty({1, s.image_rows, c.patch_dim()});
  be.patchify(p, be.to_backend(lat), patches);
  const int64_t x_pad = padding_of(s.image_rows);
  s.x = pad_with(be, x_embedder_.forward(be, patches), x_pad_, x_pad);

  const int64_t L = s.caption.dim(1);
  FARM_ASSERT(s.caption.dim(2) == c.cap_feat_dim, shape_str(s.caption.shape));
  const int64_t cap_rows = L + padding_of(L);
  s.cap = pad_with(be, cap_linear_.forward(be, cap_norm_.forward(be, s.caption)), cap_pad_, cap_rows - L);

  s.x_rope = rope_table(image_ids(s.h_tokens, s.w_tokens, x_pad, cap_rows));
  s.cap_rope = rope_table(caption_ids(cap_rows));
}

// Position ids: caption row j (pads too) (1 + j, 0, 0); image token (Lp + 1, i, j); image pads (0, 0, 0).
std::vector<std::array<int64_t, 3>> ZImageDit::caption_ids(int64_t cap_rows) {
  std::vector<std::array<int64_t, 3>> ids;
  for (int64_t j = 0; j < cap_rows; ++j) ids.push_back({1 + j, 0, 0});
  return ids;
}

std::vector<std::array<int64_t, 3>> ZImageDit::image_ids(int64_t h_tokens, int64_t w_tokens, int64_t pads,
                                                        int64_t cap_rows) {
  std::vector<std::array<int64_t, 3>> ids;
  for (int64_t i = 0; i < h_tokens; ++i)
    for (int64_t j = 0; j < w_tokens; ++j) ids.push_back({cap_rows + 1, i, j});
  for (int64_t k = 0; k < pads; ++k) ids.push_back({0, 0, 0});
  return ids;
}

// A state that crossed a cut arrives without its RoPE tables (host data as
// large as a few rows of the hidden state): they follow from the token grid
// and the streams' lengths, so they are rebuilt here, bit for bit.
void ZImageDit::restore_rope(DitState& s) const {
  const int64_t x_rows = s.image_rows + padding_of(s.image_rows);
  if (s.unified.defined() && !s.unified_rope.defined()) {
    const int64_t cap_rows = s.unified.dim(1) - x_rows;
    auto ids = image_ids(s.h_tokens, s.w_tokens, x_rows - s.image_rows, cap_rows);
    const auto cap = caption_ids(cap_rows);
    ids.insert(ids.end(), cap.begin(), cap.end());
    s.unified_rope = rope_table(ids);
  }
  if (s.x.defined() && !s.x_rope.defined()) {
    const int64_t cap_rows = s.cap.dim(1);
    s.x_rope = rope_table(image_ids(s.h_tokens, s.w_tokens, x_rows - s.image_rows, cap_rows));
    s.cap_rope = rope_table(caption_ids(cap_rows));
  }
}

void ZImageDit::run_block(Backend& be, const Block& b, Tensor& x, const Tensor& rope, const Tensor* adaln) const {
  const auto& c = config_;
  const int64_t N = x.dim(1), D = c.dim;
  FARM_ASSERT(b.modulated == (adaln != nullptr), "modulation input");
  auto chunk = [&](int i) { return b.mod[static_cast<size_t>(i)].forward(be, *adaln); };  // [1, D]
  auto residual = [&](const Tensor& branch, int gate) {
    if (b.modulated) return be.gated_residual(chunk(gate), branch, x);
    Tensor y = be.empty(x.shape);
    be.add(x, branch, y);
    x = std::move(y);
  };

  Tensor h = b.attention_norm1.forward(be, x);
  if (b.modulated) be.modulate(h, chunk(0), h);
  Tensor q = b.norm_q.forward(be, b.q.forward(be, h));
  Tensor k = b.norm_k.forward(be, b.k.forward(be, h));
  const Tensor v = b.v.forward(be, h);
  kernels::RopeArgs r;
  r.rows = N, r.heads = c.heads, r.head_dim = c.head_dim(), r.stride = D, r.interleaved = true;
  be.rope(r, rope, q);
  be.rope(r, rope, k);
  kernels::AttentionArgs a;
  a.batch = 1, a.heads = c.heads, a.q_len = a.kv_len = N, a.head_dim = c.head_dim();
  a.q_stride = a.kv_stride = a.out_stride = D;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim()));
  Tensor o = be.empty(q.shape);
  be.attention(a, q, k, v, o);
  residual(b.attention_norm2.forward(be, b.out.forward(be, o)), 1);

  Tensor f = b.ffn_norm1.forward(be, x);
  if (b.modulated) be.modulate(f, chunk(2), f);
  const Tensor gu = b.w13.forward(be, f);
  Tensor m = be.empty({1, N, c.ffn_dim()});
  be.swiglu(N, c.ffn_dim(), gu, m);
  residual(b.ffn_norm2.forward(be, b.w2.forward(be, m)), 3);
}

void ZImageDit::final_layer(Backend& be, DitState& s) const {
  const auto& c = config_;
  Tensor act = be.empty(s.adaln.shape);
  be.activation(kernels::Activation::silu, s.adaln, act);
  Tensor h = final_norm_.forward(be, s.unified);
  be.modulate(h, final_mod_.forward(be, act), h);
  // Unpatchify the image rows (the first image_rows of the unified sequence)
  // on the device; only the latent-sized result goes to the host sampler.
  const Tensor patches = final_linear_.forward(be, h);
  const int64_t p = c.patch, C = c.in_channels, H = s.h_tokens * p, W = s.w_tokens * p;
  Tensor image = be.empty({1, H, W, C});
  be.unpatchify(p, Tensor(patches).reshaped({1, patches.dim(1), c.patch_dim()}), image);
  s.out = be.to_host(image);
}

void ZImageDit::run(Backend& be, DitState& s, size_t begin, size_t end) const {
  FARM_ASSERT(begin <= end && end <= blocks_.size(), "transformer block range ", begin, "..", end);
  if (begin > 0 && begin < end) restore_rope(s);
  for (size_t i = begin; i < end; ++i) {
    const auto& b = blocks_[i];
    const auto at = static_cast<size_t>(b.index);
    switch (b.kind) {
      case DitBlockKind::embed: embed(be, s); break;
      case DitBlockKind::noise_refiner: run_block(be, noise_refiner_[at], s.x, s.x_rope, &s.adaln); break;
      case DitBlockKind::context_refiner: run_block(be, context_refiner_[at], s.cap, s.cap_rope, nullptr); break;
      case DitBlockKind::layer:
        if (b.index == 0) {  // the unified sequence: [image | caption]
          s.unified = concat_rows(be, s.x, s.cap);
          s.unified_rope = Tensor({s.x_rope.dim(0) + s.cap_rope.dim(0), s.x_rope.dim(1), 2});
          std::copy(s.x_rope.data.begin(), s.x_rope.data.end(), s.unified_rope.data.begin());
          std::copy(s.cap_rope.data.begin(), s.cap_rope.data.end(),
                    s.unified_rope.data.begin() + static_cast<std::ptrdiff_t>(s.x_rope.size()));
          s.x = s.cap = Tensor();
        }
        run_block(be, layers_[at], s.unified, s.unified_rope, &s.adaln);
        break;
      case DitBlockKind::final_layer: final_layer(be, s); break;
    }
  }
}

Tensor ZImageDit::forward(Backend& be, const Tensor& latents, const Tensor& caption, float t) const {
  DitState s;
  s.latents = latents;
  const int64_t L = caption.dim(-2);
  s.caption = be.to_backend(Tensor(caption).reshaped({1, L, config_.cap_feat_dim}));
  s.t = t;
  run(be, s, 0, blocks_.size());
  return s.out;
}

}  // namespace farm::model
