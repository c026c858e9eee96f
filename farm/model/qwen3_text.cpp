#include "farm/model/qwen3_text.h"

#include <cmath>

#include "farm/core/error.h"
#include "farm/io/json_config.h"
#include "farm/model/rotary.h"

namespace farm::model {

Qwen3Config Qwen3Config::load(const std::string& path) {
  const JsonConfig c = JsonConfig::load(path);
  const std::string type = c.get_string("model_type", "");
  if (type != "qwen3")
    c.bad("model_type", "'" + type + "'; expected 'qwen3' (a Qwen3Model, Z-Image's text encoder)");
  Qwen3Config q;
  q.vocab_size = c.get_int("vocab_size");
  q.hidden_size = c.get_int("hidden_size");
  q.intermediate_size = c.get_int("intermediate_size");
  q.layers = c.get_int("num_hidden_layers");
  q.heads = c.get_int("num_attention_heads");
  q.kv_heads = c.get_int("num_key_value_heads", q.heads);
  q.max_positions = c.get_int("max_position_embeddings", 40960);
  if (q.hidden_size <= 0) c.bad("hidden_size", "must be positive");
  if (q.intermediate_size <= 0) c.bad("intermediate_size", "must be positive");
  // The block list holds one entry per layer: bounded, as a config is untrusted input.
  if (q.layers <= 0 || q.layers > 4096) c.bad("num_hidden_layers", "expected 1..4096");
  if (q.vocab_size <= 0) c.bad("vocab_size", "must be positive");
  if (q.heads <= 0) c.bad("num_attention_heads", "must be positive");
  if (q.kv_heads <= 0 || q.heads % q.kv_heads != 0)
    c.bad("num_key_value_heads", cat(q.kv_heads, " does not divide num_attention_heads ", q.heads));
  q.head_dim = c.get_int("head_dim", q.hidden_size / q.heads);
  if (q.head_dim <= 0 || q.head_dim % 2 != 0) c.bad("head_dim", cat(q.head_dim, ": expected a positive even size"));
  q.rms_norm_eps = static_cast<float>(c.get_number("rms_norm_eps", 1e-6));
  if (!(q.rms_norm_eps > 0.0f)) c.bad("rms_norm_eps", "must be positive");
  const std::string act = c.get_string("hidden_act", "silu");
  if (act != "silu") c.bad("hidden_act", "'" + act + "' is not supported (Qwen3's MLP is SwiGLU: silu)");
  if (c.get_bool("attention_bias", false)) c.bad("attention_bias", "true is not supported (Qwen3 has no biases)");
  if (c.get_bool("use_sliding_window", false))
    c.bad("use_sliding_window", "true is not supported (full attention only)");
  // transformers 4 writes rope_theta and rope_scaling; 5 writes rope_parameters.
  q.rope_theta = c.get_number("rope_theta", 1e6);
  if (c.has("rope_parameters")) {
    const auto& rp = c.json()["rope_parameters"];
    if (!rp.is_object()) c.bad("rope_parameters", "expected an object");
    const std::string rope_type = rp.value("rope_type", std::string("default"));
    if (rope_type != "default") c.bad("rope_parameters", "rope_type '" + rope_type + "' is not supported (default only)");
    if (rp.contains("rope_theta")) {
      if (!rp["rope_theta"].is_number()) c.bad("rope_parameters", "rope_theta is not a number");
      q.rope_theta = rp["rope_theta"].get<double>();
    }
  }
  if (c.has("rope_scaling")) c.bad("rope_scaling", "is set; scaled rotary embeddings are not supported");
  if (!(q.rope_theta > 1.0)) c.bad("rope_theta", cat(q.rope_theta, ": expected a base above 1"));
  if (c.has("layer_types"))
    for (const auto& t : c.get_string_list("layer_types"))
      if (t != "full_attention") c.bad("layer_types", "'" + t + "' is not supported (full_attention only)");
  return q;
}

Qwen3TextEncoder::Qwen3TextEncoder(Qwen3Config c, int64_t layers_used)
    : config_(std::move(c)), layers_used_(layers_used) {
  FARM_ASSERT(layers_used_ >= 1 && layers_used_ <= config_.layers, "layers_used ", layers_used_);
  blocks_.push_back({Qwen3BlockKind::embed_tokens, "embed_tokens"});
  for (int64_t i = 0; i < layers_used_; ++i) blocks_.push_back({Qwen3BlockKind::layer, cat("layers.", i), i});
  if (layers_used_ == config_.layers) blocks_.push_back({Qwen3BlockKind::norm, "norm"});
}

void Qwen3TextEncoder::load(const WeightLoader& w) {
  const auto& c = config_;
  // Qwen3Model saves bare keys; a Qwen3ForCausalLM checkpoint prefixes them with "model.".
  const std::string p = !w.contains("embed_tokens.weight") && w.contains("model.embed_tokens.weight") ? "model." : "";
  embed_tokens_ = w.get(p + "embed_tokens.weight", {c.vocab_size, c.hidden_size});
  const int64_t qw = c.heads * c.head_dim, kvw = c.kv_heads * c.head_dim;
  layers_.resize(static_cast<size_t>(layers_used_));
  for (int64_t i = 0; i < layers_used_; ++i) {
    const std::string l = cat(p, "layers.", i, ".");
    Layer& L = layers_[static_cast<size_t>(i)];
    L.input_norm.load(w, l + "input_layernorm", c.hidden_size, c.rms_norm_eps);
    L.q.load(w, l + "self_attn.q_proj", c.hidden_size, qw, false);
    L.k.load(w, l + "self_attn.k_proj", c.hidden_size, kvw, false);
    L.v.load(w, l + "self_attn.v_proj", c.hidden_size, kvw, false);
    L.q_norm.load(w, l + "self_attn.q_norm", c.head_dim, c.rms_norm_eps);
    L.k_norm.load(w, l + "self_attn.k_norm", c.head_dim, c.rms_norm_eps);
    L.o.load(w, l + "self_attn.o_proj", qw, c.hidden_size, false);
    L.post_attention_norm.load(w, l + "post_attention_layernorm", c.hidden_size, c.rms_norm_eps);
    L.gate_up.load_stacked(w, {l + "mlp.gate_proj", l + "mlp.up_proj"}, c.hidden_size, c.intermediate_size);
    L.down.load(w, l + "mlp.down_proj", c.intermediate_size, c.hidden_size, false);
  }
  if (layers_used_ == c.layers) norm_.load(w, p + "norm", c.hidden_size, c.rms_norm_eps);
}

std::vector<BlockRef> Qwen3TextEncoder::block_list(ModelPart part) const {
  std::vector<BlockRef> r;
  for (const auto& b : blocks_) {
    const char* kind = b.kind == Qwen3BlockKind::embed_tokens ? "embed_tokens"
                       : b.kind == Qwen3BlockKind::layer      ? "layer"
                                                              : "norm";
    r.push_back({part, b.name, kind});
  }
  return r;
}

void Qwen3TextEncoder::run_layer(Backend& be, TextState& s, int64_t i) const {
  const auto& c = config_;
  const Layer& ly = layers_[static_cast<size_t>(i)];
  const int64_t L = s.h.dim(1);
  const Tensor x = ly.input_norm.forward(be, s.h);
  Tensor q = ly.q_norm.forward(be, ly.q.forward(be, x));  // per head over head_dim
  Tensor k = ly.k_norm.forward(be, ly.k.forward(be, x));
  const Tensor v = ly.v.forward(be, x);
  // Positions 0..L-1 of each sequence: the table repeats per sample.
  const Tensor one = rotary_table_1d(0, L, c.head_dim, c.rope_theta);
  Tensor table({s.batch * L, c.head_dim / 2, 2});
  for (int64_t b = 0; b < s.batch; ++b) std::copy(one.ptr(), one.ptr() + one.size(), table.ptr() + b * one.size());
  kernels::RopeArgs r;
  r.rows = s.batch * L, r.head_dim = c.head_dim;
  r.heads = c.heads, r.stride = c.heads * c.head_dim;
  be.rope(r, table, q);
  r.heads = c.kv_heads, r.stride = c.kv_heads * c.head_dim;
  be.rope(r, table, k);

  kernels::AttentionArgs a;
  a.batch = s.batch;
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  a.q_len = a.kv_len = L;
  a.head_dim = c.head_dim;
  a.q_stride = a.out_stride = c.heads * c.head_dim;
  a.kv_stride = c.kv_heads * c.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  a.causal = true;
  Tensor o = be.empty(q.shape);
  be.attention(a, q, k, v, o);
  s.h = ly.o.forward(be, o, &s.h);

  const Tensor gu = ly.gate_up.forward(be, ly.post_attention_norm.forward(be, s.h));
  Tensor m = be.empty({s.batch, L, c.intermediate_size});
  be.swiglu(s.batch * L, c.intermediate_size, gu, m);
  s.h = ly.down.forward(be, m, &s.h);
}

void Qwen3TextEncoder::run(Backend& be, TextState& s, size_t begin, size_t end) const {
  FARM_ASSERT(begin <= end && end <= blocks_.size(), "text encoder block range ", begin, "..", end);
  const auto& c = config_;
  for (size_t i = begin; i < end; ++i) {
    const auto& b = blocks_[i];
    switch (b.kind) {
      case Qwen3BlockKind::embed_tokens: {
        const int64_t L = static_cast<int64_t>(s.ids.size()) / s.batch;
        FARM_ASSERT(L * s.batch == static_cast<int64_t>(s.ids.size()) && L >= 1, "ids ", s.ids.size());
        for (const int64_t id : s.ids)
          FARM_ASSERT(id >= 0 && id < c.vocab_size, "token id ", id, " outside the vocabulary");
        s.h = be.empty({s.batch, L, c.hidden_size});
        be.embed_tokens(s.ids, s.batch, embed_tokens_, Tensor(), s.h);
        break;
      }
      case Qwen3BlockKind::layer: run_layer(be, s, b.layer); break;
      case Qwen3BlockKind::norm: s.h = norm_.forward(be, s.h); break;
    }
  }
}

int64_t Qwen3TextEncoder::block_params(size_t i) const {
  const auto& c = config_;
  const int64_t H = c.hidden_size, q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
  switch (blocks_.at(i).kind) {
    case Qwen3BlockKind::embed_tokens: return c.vocab_size * H;
    case Qwen3BlockKind::layer:  // q k v o, q/k norms, two RMS norms, SwiGLU
      return H * q + 2 * H * kv + q * H + 2 * c.head_dim + 2 * H + 3 * H * c.intermediate_size;
    case Qwen3BlockKind::norm: return H;
  }
  return 0;
}

Tensor Qwen3TextEncoder::forward(Backend& be, const std::vector<int64_t>& ids) const {
  if (ids.empty()) fail("Qwen3 text encoder: no tokens (the chat template always gives some)");
  if (static_cast<int64_t>(ids.size()) > config_.max_positions)
    fail("Qwen3 text encoder: ", ids.size(), " tokens, more than its max_position_embeddings ", config_.max_positions);
  TextState s{ids, 1, {}, {}};
  run(be, s, 0, blocks_.size());
  return s.h;
}

}  // namespace farm::model
