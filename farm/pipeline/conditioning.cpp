#include "farm/pipeline/conditioning.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm::pipeline {
namespace {

// A1111's emphasis on one chunk z [77·D] with per-token weights w [77]:
// float32 arithmetic as torch does it; the means summed in double.
void weight_chunk(float* z, const float* w, int64_t tokens, int64_t dim) {
  const int64_t n = tokens * dim;
  double before = 0, after = 0;
  for (int64_t i = 0; i < n; ++i) before += z[i];
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t d = 0; d < dim; ++d) z[t * dim + d] *= w[t];
  for (int64_t i = 0; i < n; ++i) after += z[i];
  const float mean_before = static_cast<float>(before / static_cast<double>(n));
  const float mean_after = static_cast<float>(after / static_cast<double>(n));
  // All weights 0 on a chunk whose mean then vanishes: A1111 divides by zero
  // and renders NaN; leave the weighted chunk as it is instead.
  if (mean_after == 0.0f) return;
  const float ratio = mean_before / mean_after;
  for (int64_t i = 0; i < n; ++i) z[i] *= ratio;
}

struct Tokenized {
  std::vector<text::PromptChunks> rows;
  int count = 1;
};

Tokenized tokenize(const text::ClipTokenizer& tok, const std::vector<std::string>& prompts,
                   text::PromptReading reading) {
  Tokenized t;
  for (const auto& p : prompts) {
    t.rows.push_back(text::prompt_chunks(tok, p, reading));
    t.count = std::max(t.count, t.rows.back().count);
  }
  return t;
}

// One encoder's states of every row's `count` chunks, weighted: [R·C, L, D] on the backend.
// SDXL (sdxl_pooled non-null): its hidden state, and the pooled rows when the encoder has them.
Tensor encode_rows(const SdModel& m, const text::ClipTokenizer& tok, const model::ClipTextEncoder& enc,
                   Tokenized t, int count, int clip_skip, Tensor* sdxl_pooled) {
  std::vector<int64_t> ids;
  bool weighted = false;
  for (auto& r : t.rows) {
    text::pad_chunks(r, count, tok);
    ids.insert(ids.end(), r.ids.begin(), r.ids.end());
    weighted = weighted || r.weighted();
  }
  const int64_t R = static_cast<int64_t>(t.rows.size()), L = tok.max_length();
  Tensor z;
  if (sdxl_pooled) {
    auto o = enc.forward_sdxl(*m.backend, ids, R * count, clip_skip);
    z = std::move(o.hidden);
    *sdxl_pooled = std::move(o.pooled);
  } else {
    z = enc.forward(*m.backend, ids, R * count, clip_skip);  // [R·C, L, D]
  }
  if (!weighted) return z;
  const int64_t D = z.dim(-1);
  Tensor h = m.backend->to_host(z);  // once per micro-batch, a few hundred KB: through the host
  for (int64_t r = 0; r < R; ++r) {
    const auto& w = t.rows[static_cast<size_t>(r)].weights;
    for (int64_t c = 0; c < count; ++c) {
      const float* wc = w.data() + c * L;
      if (std::all_of(wc, wc + L, [](float x) { return x == 1.0f; })) continue;
      weight_chunk(h.ptr() + (r * count + c) * L * D, wc, L, D);
    }
  }
  return m.backend->to_backend(h);
}

}  // namespace

Conditioning encode_conditioning(const SdModel& m, const std::vector<std::string>& prompts, int clip_skip,
                                 text::PromptReading reading, const std::vector<bool>& zeroed) {
  const int64_t R = static_cast<int64_t>(prompts.size()), L = m.first_tokenizer().max_length();
  Conditioning out;
  if (!m.sdxl()) {
    const Tokenized t = tokenize(*m.tokenizer, prompts, reading);
    const int count = t.count;
    Tensor z = encode_rows(m, *m.tokenizer, *m.text_encoder, t, count, clip_skip, nullptr);
    const int64_t D = z.dim(-1);
    out.context = std::move(z).reshaped({R, count * L, D});
    FARM_ASSERT(zeroed.empty(), "zeroed conditioning rows are SDXL's (force_zeros_for_empty_prompt)");
    return out;
  }
  // The refiner has the second encoder only (diffusers: text_encoders = [text_encoder_2]).
  const Tokenized t2 = tokenize(*m.tokenizer_2, prompts, reading);
  const Tokenized t1 = m.text_encoder ? tokenize(*m.tokenizer, prompts, reading) : Tokenized{};
  const int count = std::max(t1.count, t2.count);
  Tensor unused, pooled;
  Tensor z2 = encode_rows(m, *m.tokenizer_2, *m.text_encoder_2, t2, count, clip_skip, &pooled);
  const int64_t n = R * count, D2 = z2.dim(-1), P = pooled.dim(-1);
  int64_t D1 = 0;
  Tensor z;
  if (m.text_encoder) {
    Tensor z1 = encode_rows(m, *m.tokenizer, *m.text_encoder, t1, count, clip_skip, &unused);
    D1 = z1.dim(-1);
    z = m.backend->empty({n, L, 1, D1 + D2});
    m.backend->concat_channels(std::move(z1).reshaped({n, L, 1, D1}), std::move(z2).reshaped({n, L, 1, D2}), z);
  } else {
    z = std::move(z2);
  }
  // Small, once per micro-batch: the first chunk's pooled rows and the zeroed rows on the host.
  const Tensor pooled_chunks = m.backend->to_host(pooled);  // [R·C, P]
  Tensor pooled_rows({R, P});
  for (int64_t r = 0; r < R; ++r) std::copy_n(pooled_chunks.ptr() + r * count * P, P, pooled_rows.ptr() + r * P);
  const bool any_zeroed = std::find(zeroed.begin(), zeroed.end(), true) != zeroed.end();
  FARM_ASSERT(zeroed.empty() || static_cast<int64_t>(zeroed.size()) == R, zeroed.size(), " zeroed flags for ", R,
              " rows");
  if (any_zeroed) {
    Tensor h = m.backend->to_host(z);
    const int64_t row = count * L * (D1 + D2);
    for (int64_t r = 0; r < R; ++r) {
      if (!zeroed[static_cast<size_t>(r)]) continue;
      std::fill_n(h.ptr() + r * row, row, 0.0f);
      std::fill_n(pooled_rows.ptr() + r * P, P, 0.0f);
    }
    z = m.backend->to_backend(h);
  }
  out.context = std::move(z).reshaped({R, count * L, D1 + D2});
  out.pooled = m.backend->to_backend(pooled_rows);
  return out;
}

int item_chunks(const SdModel& m, const std::string& prompt, const std::string& negative_prompt, bool guided,
                text::PromptReading reading) {
  int c = 0;
  for (const text::ClipTokenizer* tok : {m.tokenizer.get(), m.tokenizer_2.get()}) {
    if (!tok) continue;
    c = std::max(c, text::prompt_chunks(*tok, prompt, reading).count);
    if (guided) c = std::max(c, text::prompt_chunks(*tok, negative_prompt, reading).count);
  }
  return c;
}

}  // namespace farm::pipeline
