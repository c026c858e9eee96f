#include "partition/block_costs.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm::partition {

using model::UNetBlockKind;

namespace {

// Parameters of the layers, as the checkpoints store them.
int64_t conv_params(int64_t in, int64_t out, int64_t k) { return out * in * k * k + out; }
int64_t linear_params(int64_t in, int64_t out, bool bias = true) { return out * in + (bias ? out : 0); }
int64_t norm_params(int64_t c) { return 2 * c; }

// ResnetBlock2D: norm1, conv1, [time_emb_proj], norm2, conv2, [conv_shortcut 1×1].
int64_t resnet_params(int64_t in, int64_t out, int64_t temb) {
  return norm_params(in) + conv_params(in, out, 3) + (temb > 0 ? linear_params(temb, out) : 0) + norm_params(out) +
         conv_params(out, out, 3) + (in != out ? conv_params(in, out, 1) : 0);
}
// MACs per row at n pixels; temb projection once per row.
double resnet_macs(int64_t in, int64_t out, int64_t temb, double n) {
  return n * static_cast<double>(in * out * 9 + out * out * 9 + (in != out ? in * out : 0)) +
         static_cast<double>(temb * out);
}

// Transformer2DModel: norm, proj_in, layers × BasicTransformerBlock, proj_out.
// proj_in/proj_out are Linear (use_linear_projection) or 1×1 Conv2d: the same
// C·C + C numbers either way.
int64_t transformer_params(int64_t c, int64_t ctx, int64_t layers) {
  const int64_t block = 3 * norm_params(c) +                                     // norm1..3
                        3 * linear_params(c, c, false) + linear_params(c, c) +   // attn1 q,k,v,out
                        linear_params(c, c, false) + 2 * linear_params(ctx, c, false) + linear_params(c, c) +  // attn2
                        linear_params(c, 8 * c) + linear_params(4 * c, c);       // ff GEGLU proj, ff out
  return norm_params(c) + 2 * linear_params(c, c) + layers * block;
}
double transformer_macs(int64_t c, int64_t ctx, int64_t layers, double n, double len) {
  const double C = static_cast<double>(c), D = static_cast<double>(ctx);
  const double self_attn = 4 * n * C * C + 2 * n * n * C;           // q,k,v,out; QK^T and PV over n keys
  const double cross = 2 * n * C * C + 2 * len * D * C + 2 * n * len * C;  // q,out; k,v of context; QK^T, PV
  const double ff = n * C * 8 * C + n * 4 * C * C;
  return 2 * n * C * C + static_cast<double>(layers) * (self_attn + cross + ff);
}

}  // namespace

std::vector<int64_t> level_sizes(int64_t latent, int levels) {
  std::vector<int64_t> s{latent};
  for (int l = 1; l < levels; ++l) s.push_back((s.back() - 1) / 2 + 1);
  return s;
}

BlockGeometry block_geometry(const model::UNetBlockDesc& d, const std::vector<int64_t>& hs,
                             const std::vector<int64_t>& ws) {
  const auto at = [&](int l) {
    FARM_ASSERT(l >= 0 && l < static_cast<int>(hs.size()), d.name, ": level ", l);
    return std::pair{hs[l], ws[l]};
  };
  BlockGeometry g;
  if (d.kind == UNetBlockKind::time_embedding) return g;
  std::tie(g.in_h, g.in_w) = at(d.level);
  g.out_h = g.in_h;
  g.out_w = g.in_w;
  // A downsample at level l writes level l+1; an upsample at level l (up path,
  // heading for l-1) writes level l-1.
  if (d.kind == UNetBlockKind::downsample) std::tie(g.out_h, g.out_w) = at(d.level + 1);
  if (d.kind == UNetBlockKind::upsample) std::tie(g.out_h, g.out_w) = at(d.level - 1);
  return g;
}

int64_t unet_block_params(const model::UNetConfig& c, const model::UNetBlockDesc& d) {
  switch (d.kind) {
    case UNetBlockKind::time_embedding:
      return linear_params(c.block_out_channels[0], c.time_embed_dim()) +
             linear_params(c.time_embed_dim(), c.time_embed_dim()) +
             (c.text_time() ? linear_params(c.projection_class_embeddings_input_dim, c.time_embed_dim()) +
                                  linear_params(c.time_embed_dim(), c.time_embed_dim())
                            : 0);
    case UNetBlockKind::conv_in: return conv_params(d.in_channels, d.out_channels, 3);
    case UNetBlockKind::resnet: return resnet_params(d.in_channels, d.out_channels, c.time_embed_dim());
    case UNetBlockKind::transformer: return transformer_params(d.in_channels, d.context_dim, d.layers);
    case UNetBlockKind::downsample:
    case UNetBlockKind::upsample: return conv_params(d.in_channels, d.out_channels, 3);
    case UNetBlockKind::conv_out: return norm_params(d.in_channels) + conv_params(d.in_channels, d.out_channels, 3);
  }
  return 0;
}

double unet_block_flops(const model::UNetConfig& c, const model::UNetBlockDesc& d, const BlockGeometry& g,
                        int64_t text_len) {
  const double n_in = static_cast<double>(g.in_h * g.in_w), n_out = static_cast<double>(g.out_h * g.out_w);
  const double ci = static_cast<double>(d.in_channels), co = static_cast<double>(d.out_channels);
  double macs = 0;
  switch (d.kind) {
    case UNetBlockKind::time_embedding: {
      const double c0 = static_cast<double>(c.block_out_channels[0]), t = static_cast<double>(c.time_embed_dim());
      macs = c0 * t + t * t;
      if (c.text_time()) macs += static_cast<double>(c.projection_class_embeddings_input_dim) * t + t * t;
      break;
    }
    case UNetBlockKind::resnet: macs = resnet_macs(d.in_channels, d.out_channels, c.time_embed_dim(), n_in); break;
    case UNetBlockKind::transformer:
      macs = transformer_macs(d.in_channels, d.context_dim, d.layers, n_in, static_cast<double>(text_len));
      break;
    // Convolutions cost at the size they write: the downsample's stride-2
    // output, the upsample's conv after the nearest 2× resize.
    case UNetBlockKind::conv_in:
    case UNetBlockKind::downsample:
    case UNetBlockKind::upsample:
    case UNetBlockKind::conv_out: macs = n_out * ci * co * 9; break;
  }
  return 2 * macs;
}

// The block's own tensors, per row, counted as our executor allocates them
// (an upper bound: all are counted as live at once):
//   resnet:      input (a popping resnet also holds h, the skip and their
//                concatenation: 2× in) + norm1 (in) + conv1, norm2, output (out
//                each) + shortcut (out, when in != out)
//   transformer: at the feed-forward, the widest point: block input, residual,
//                norm3 output (C each), GEGLU projection (8C), gated (4C),
//                output (C) = 16C per token, + cross-attention K, V of the
//                context (2·len·C). Attention scores are tiled (256 query rows
//                on the CPU, flash attention on GPUs) and not counted.
//   convs:       input + output (+ the 2× nearest resize for the upsample,
//                + the group norm's output for conv_out)
//   time embedding: sinusoidal embedding + two linear outputs.
double unet_block_work_elems(const model::UNetConfig& c, const model::UNetBlockDesc& d, const BlockGeometry& g,
                             int64_t text_len) {
  const double n_in = static_cast<double>(g.in_h * g.in_w), n_out = static_cast<double>(g.out_h * g.out_w);
  const double ci = static_cast<double>(d.in_channels), co = static_cast<double>(d.out_channels);
  switch (d.kind) {
    case UNetBlockKind::time_embedding:
      return static_cast<double>(c.block_out_channels[0] + 2 * c.time_embed_dim());
    case UNetBlockKind::resnet:
      return n_in * ci * (d.pops_skip ? 2 : 1) + n_in * ci + n_out * co * (d.in_channels != d.out_channels ? 4 : 3);
    case UNetBlockKind::transformer: return 16 * n_in * ci + 2 * static_cast<double>(text_len) * ci;
    case UNetBlockKind::conv_in:
    case UNetBlockKind::downsample: return n_in * ci + n_out * co;
    case UNetBlockKind::upsample: return n_in * ci + 2 * n_out * co;
    case UNetBlockKind::conv_out: return 2 * n_in * ci + n_out * co;
  }
  return 0;
}

int64_t text_block_params(const model::ClipTextConfig& c, const model::TextBlockDesc& b) {
  const int64_t d = c.hidden_size, i = c.intermediate_size;
  switch (b.kind) {
    case model::TextBlockKind::embeddings: return c.vocab_size * d + c.max_positions * d;
    case model::TextBlockKind::layer:
      return 2 * norm_params(d) + 4 * linear_params(d, d) + linear_params(d, i) + linear_params(i, d);
    case model::TextBlockKind::final_layer_norm: return norm_params(d);
    case model::TextBlockKind::text_projection: return linear_params(d, c.projection_dim, false);
  }
  return 0;
}

double text_block_flops(const model::ClipTextConfig& c, const model::TextBlockDesc& b, int64_t len) {
  const double d = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size),
               l = static_cast<double>(len);
  switch (b.kind) {
    // q,k,v,out; QK^T and PV (the causal mask is not credited: the kernels compute full tiles); fc1, fc2.
    case model::TextBlockKind::layer: return 2 * (4 * l * d * d + 2 * l * l * d + 2 * l * d * i);
    case model::TextBlockKind::text_projection: return 2 * d * static_cast<double>(c.projection_dim);  // one token
    default: return 0;  // a gather; a norm
  }
}

int64_t text_encoder_params(const model::ClipTextConfig& c) {
  int64_t p = 0;
  const model::ClipTextEncoder enc(c);  // descriptions only: no weights
  for (const auto& b : enc.blocks()) p += text_block_params(c, b);
  return p;
}

double text_encoder_flops(const model::ClipTextConfig& c, int64_t len, int64_t layers) {
  const int64_t used = layers > 0 ? layers : c.layers;
  double f = 0;
  const model::ClipTextEncoder enc(c);
  for (const auto& b : enc.blocks())
    if (b.kind != model::TextBlockKind::layer || b.layer < used) f += text_block_flops(c, b, len);
  return f;
}

// Residual stream, layer-norm output, q, k, v, attention output, MLP hidden.
double text_encoder_work_elems(const model::ClipTextConfig& c, int64_t len) {
  const double l = static_cast<double>(len);
  return l * static_cast<double>(6 * c.hidden_size + c.intermediate_size);
}

int64_t vae_block_params(const model::VaeConfig& c, const model::VaeBlockDesc& b) {
  const int64_t lc = c.latent_channels, in = b.in_channels, out = b.out_channels;
  switch (b.kind) {
    case model::VaeBlockKind::input: return (c.use_post_quant_conv ? conv_params(lc, lc, 1) : 0) + conv_params(lc, out, 3);
    case model::VaeBlockKind::mid_resnet:
    case model::VaeBlockKind::up_resnet: return resnet_params(in, out, 0);
    case model::VaeBlockKind::mid_attention: return norm_params(in) + 4 * linear_params(in, in);  // norm, q,k,v,out
    case model::VaeBlockKind::upsample: return conv_params(in, out, 3);
    case model::VaeBlockKind::output: return norm_params(in) + conv_params(in, out, 3);
  }
  return 0;
}

double vae_block_flops(const model::VaeConfig& c, const model::VaeBlockDesc& b, int64_t latent_h, int64_t latent_w) {
  const double px = static_cast<double>(latent_h * latent_w) * static_cast<double>(int64_t{1} << (2 * b.scale));
  const double lc = static_cast<double>(c.latent_channels), in = static_cast<double>(b.in_channels),
               out = static_cast<double>(b.out_channels);
  double macs = 0;
  switch (b.kind) {
    case model::VaeBlockKind::input: macs = (c.use_post_quant_conv ? px * lc * lc : 0) + px * lc * out * 9; break;
    case model::VaeBlockKind::mid_resnet:
    case model::VaeBlockKind::up_resnet: macs = resnet_macs(b.in_channels, b.out_channels, 0, px); break;
    case model::VaeBlockKind::mid_attention: macs = 4 * px * in * in + 2 * px * px * in; break;  // one head
    case model::VaeBlockKind::upsample: macs = 4 * px * in * out * 9; break;  // the conv runs at twice the size
    case model::VaeBlockKind::output: macs = px * in * out * 9; break;
  }
  return 2 * macs;
}

int64_t vae_decoder_params(const model::VaeConfig& c) {
  int64_t p = 0;
  const model::VaeDecoder dec(c);
  for (const auto& b : dec.blocks()) p += vae_block_params(c, b);
  return p;
}

double vae_decoder_flops(const model::VaeConfig& c, int64_t latent_h, int64_t latent_w) {
  double f = 0;
  const model::VaeDecoder dec(c);
  for (const auto& b : dec.blocks()) f += vae_block_flops(c, b, latent_h, latent_w);
  return f;
}

// The widest point: a resnet at full resolution (input, norm, two convs'
// outputs, output) plus the 2× resize feeding the last upsample conv.
double vae_decoder_work_elems(const model::VaeConfig& c, int64_t latent_h, int64_t latent_w) {
  const int64_t n = static_cast<int64_t>(c.block_out_channels.size());
  double widest = 0, px = static_cast<double>(latent_h * latent_w);
  for (int64_t i = 0; i < n; ++i) {
    const double ch = static_cast<double>(c.block_out_channels[n - 1 - i]);
    widest = std::max(widest, 5 * px * ch);
    if (i + 1 < n) {
      widest = std::max(widest, px * ch + 2 * 4 * px * ch);
      px *= 4;
    }
  }
  return widest;
}

}  // namespace farm::partition
