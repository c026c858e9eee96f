#include "farm/model/clip_text.h"

#include <algorithm>
#include <cmath>

#include "farm/core/error.h"
#include "farm/io/json_config.h"

namespace farm::model {

ClipTextConfig ClipTextConfig::load(const std::string& path) {
  const JsonConfig c = JsonConfig::load(path);
  ClipTextConfig t;
  t.vocab_size = c.get_int("vocab_size");
  t.hidden_size = c.get_int("hidden_size");
  t.intermediate_size = c.get_int("intermediate_size");
  t.layers = c.get_int("num_hidden_layers");
  t.heads = c.get_int("num_attention_heads");
  t.max_positions = c.get_int("max_position_embeddings", 77);
  const std::string act = c.get_string("hidden_act", "quick_gelu");
  if (act != "quick_gelu" && act != "gelu") c.bad("hidden_act", "'" + act + "' is not supported (quick_gelu, gelu)");
  t.quick_gelu = act == "quick_gelu";
  t.layer_norm_eps = static_cast<float>(c.get_number("layer_norm_eps", 1e-5));
  if (t.hidden_size <= 0 || t.heads <= 0 || t.hidden_size % t.heads != 0)
    c.bad("num_attention_heads", cat("hidden_size ", t.hidden_size, " does not divide into ", t.heads, " heads"));
  if (t.layers <= 0) c.bad("num_hidden_layers", "must be positive");
  if (t.vocab_size <= 0) c.bad("vocab_size", "must be positive");
  if (t.max_positions < 1) c.bad("max_position_embeddings", "must be positive");
  if (c.has("architectures"))
    for (const auto& a : c.get_string_list("architectures")) t.with_projection |= a == "CLIPTextModelWithProjection";
  if (t.with_projection) {
    t.projection_dim = c.get_int("projection_dim");
    if (t.projection_dim <= 0) c.bad("projection_dim", "must be positive");
  }
  t.eos_token_id = c.get_int("eos_token_id", 2);
  return t;
}

void ClipTextEncoder::load(const WeightLoader& w) {
  const auto& c = config_;
  // Published SD checkpoints prefix every key with "text_model."; transformers 5 saves without it.
  const bool bare = !w.contains("text_model.embeddings.token_embedding.weight") &&
                    w.contains("embeddings.token_embedding.weight");
  const std::string p = bare ? "" : "text_model.";
  token_embedding_ = w.get(p + "embeddings.token_embedding.weight", {c.vocab_size, c.hidden_size});
  position_embedding_ = w.get(p + "embeddings.position_embedding.weight", {c.max_positions, c.hidden_size});
  layers_.resize(static_cast<size_t>(c.layers));
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string l = cat(p, "encoder.layers.", i, ".");
    auto& L = layers_[i];
    L.ln1.load(w, l + "layer_norm1", c.hidden_size, c.layer_norm_eps);
    L.q.load(w, l + "self_attn.q_proj", c.hidden_size, c.hidden_size);
    L.k.load(w, l + "self_attn.k_proj", c.hidden_size, c.hidden_size);
    L.v.load(w, l + "self_attn.v_proj", c.hidden_size, c.hidden_size);
    L.out.load(w, l + "self_attn.out_proj", c.hidden_size, c.hidden_size);
    L.ln2.load(w, l + "layer_norm2", c.hidden_size, c.layer_norm_eps);
    L.fc1.load(w, l + "mlp.fc1", c.hidden_size, c.intermediate_size);
    L.fc2.load(w, l + "mlp.fc2", c.intermediate_size, c.hidden_size);
  }
  final_ln_.load(w, p + "final_layer_norm", c.hidden_size, c.layer_norm_eps);
  if (c.with_projection) projection_.load(w, "text_projection", c.hidden_size, c.projection_dim, false);
}

Tensor ClipTextEncoder::embed(Backend& be, const std::vector<int64_t>& ids, int64_t batch) const {
  const auto& c = config_;
  const int64_t L = static_cast<int64_t>(ids.size()) / batch;
  FARM_ASSERT(L * batch == static_cast<int64_t>(ids.size()) && L <= c.max_positions, "ids ", ids.size());
  for (const int64_t id : ids) FARM_ASSERT(id >= 0 && id < c.vocab_size, "token id ", id, " outside the vocabulary");
  Tensor h = be.empty({batch, L, c.hidden_size});
  be.embed_tokens(ids, batch, token_embedding_, position_embedding_, h);
  return h;
}

void ClipTextEncoder::run_layers(Backend& be, Tensor& h, int64_t from, int64_t to) const {
  const auto& c = config_;
  kernels::AttentionArgs a;
  a.batch = h.dim(0);
  a.heads = c.heads;
  a.q_len = a.kv_len = h.dim(1);
  a.head_dim = c.hidden_size / c.heads;
  a.q_stride = a.kv_stride = a.out_stride = c.hidden_size;
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  a.causal = true;
  for (int64_t i = from; i < to; ++i) {
    const Layer& ly = layers_[i];
    const Tensor x = ly.ln1.forward(be, h);
    const Tensor q = ly.q.forward(be, x), k = ly.k.forward(be, x), v = ly.v.forward(be, x);
    Tensor o = be.empty(q.shape);
    be.attention(a, q, k, v, o);
    h = ly.out.forward(be, o, &h);
    Tensor m = ly.fc1.forward(be, ly.ln2.forward(be, h));
    be.activation(c.quick_gelu ? kernels::Activation::quick_gelu : kernels::Activation::gelu, m, m);
    h = ly.fc2.forward(be, m, &h);
  }
}

const char* block_kind_name(TextBlockKind k) {
  switch (k) {
    case TextBlockKind::embeddings: return "embeddings";
    case TextBlockKind::layer: return "layer";
    case TextBlockKind::final_layer_norm: return "final_layer_norm";
    case TextBlockKind::text_projection: return "text_projection";
  }
  return "?";
}

ClipTextEncoder::ClipTextEncoder(ClipTextConfig c) : config_(std::move(c)) {
  blocks_.push_back({TextBlockKind::embeddings, "text_model.embeddings"});
  for (int64_t i = 0; i < config_.layers; ++i)
    blocks_.push_back({TextBlockKind::layer, cat("text_model.encoder.layers.", i), i});
  blocks_.push_back({TextBlockKind::final_layer_norm, "text_model.final_layer_norm"});
  if (config_.with_projection) blocks_.push_back({TextBlockKind::text_projection, "text_projection"});
}

std::vector<BlockRef> ClipTextEncoder::block_list(ModelPart part) const {
  std::vector<BlockRef> r;
  for (const auto& b : blocks_) r.push_back({part, b.name, block_kind_name(b.kind)});
  return r;
}

void ClipTextEncoder::run(Backend& be, TextState& s, size_t begin, size_t end) const {
  FARM_ASSERT(begin <= end && end <= blocks_.size(), "text encoder block range ", begin, "..", end);
  for (size_t i = begin; i < end; ++i) {
    const auto& b = blocks_[i];
    switch (b.kind) {
      case TextBlockKind::embeddings: s.h = embed(be, s.ids, s.batch); break;
      case TextBlockKind::layer: run_layers(be, s.h, b.layer, b.layer + 1); break;
      case TextBlockKind::final_layer_norm: s.h = final_ln_.forward(be, s.h); break;
      case TextBlockKind::text_projection: pool(be, s); break;
    }
  }
}

Tensor ClipTextEncoder::forward(Backend& be, const std::vector<int64_t>& ids, int64_t batch, int clip_skip) const {
  const auto& c = config_;
  if (clip_skip < 1 || clip_skip > c.layers)
    fail("clip_skip ", clip_skip, " is out of range for a text encoder with ", c.layers, " layers (1..", c.layers, ")");
  TextState s{ids, batch, {}, {}};
  run(be, s, 0, after_layer(c.layers - clip_skip));  // the embeddings, then every layer but the skipped ones
  run(be, s, final_layer_norm_block(), final_layer_norm_block() + 1);
  return s.h;
}

ClipTextEncoder::SdxlOutput ClipTextEncoder::forward_sdxl(Backend& be, const std::vector<int64_t>& ids,
                                                          int64_t batch, int clip_skip) const {
  const auto& c = config_;
  if (clip_skip < 1 || clip_skip >= c.layers)
    fail("clip_skip ", clip_skip, " is out of range for an SDXL text encoder with ", c.layers, " layers (1..",
         c.layers - 1, ")");
  SdxlOutput r;
  TextState s{ids, batch, {}, {}};
  const size_t read_at = after_layer(c.layers - clip_skip - 1);
  run(be, s, 0, read_at);
  r.hidden = s.h;
  if (!c.with_projection) return r;
  run(be, s, read_at, blocks_.size());  // the other layers, the final layer norm, the pooled projection
  r.pooled = s.pooled;
  return r;
}

// The pooled row of each sequence (its end token) of the final-layer-normed
// state, through the host ([B, hidden] is a few KB), then text_projection.
void ClipTextEncoder::pool(Backend& be, TextState& s) const {
  const auto& c = config_;
  const Tensor normed = be.to_host(s.h);
  const int64_t L = s.h.dim(1), D = c.hidden_size;
  Tensor pooled({s.batch, D});
  for (int64_t b = 0; b < s.batch; ++b) {
    const int64_t* row = s.ids.data() + b * L;
    int64_t at = 0;
    if (c.eos_token_id == 2) {
      at = std::max_element(row, row + L) - row;  // the first largest id
    } else {
      const int64_t* e = std::find(row, row + L, c.eos_token_id);
      at = e == row + L ? 0 : e - row;
    }
    std::copy_n(normed.ptr() + (b * L + at) * D, D, pooled.ptr() + b * D);
  }
  s.pooled = projection_.forward(be, be.to_backend(pooled));
}

}  // namespace farm::model
