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

}  // namespace

Tensor encode_conditioning(const SdModel& m, const std::vector<std::string>& prompts, int clip_skip,
                           text::PromptReading reading) {
  const auto& tok = *m.tokenizer;
  std::vector<text::PromptChunks> rows;
  int count = 1;
  for (const auto& p : prompts) {
    rows.push_back(text::prompt_chunks(tok, p, reading));
    count = std::max(count, rows.back().count);
  }
  std::vector<int64_t> ids;
  bool weighted = false;
  for (auto& r : rows) {
    text::pad_chunks(r, count, tok);
    ids.insert(ids.end(), r.ids.begin(), r.ids.end());
    weighted = weighted || r.weighted();
  }
  const int64_t R = static_cast<int64_t>(prompts.size()), L = tok.max_length();
  Tensor z = m.text_encoder->forward(*m.backend, ids, R * count, clip_skip);  // [R·C, L, D]
  const int64_t D = z.dim(-1);
  if (weighted) {  // once per micro-batch, a few hundred KB: through the host
    Tensor h = m.backend->to_host(z);
    for (int64_t r = 0; r < R; ++r) {
      const auto& w = rows[static_cast<size_t>(r)].weights;
      for (int64_t c = 0; c < count; ++c) {
        const float* wc = w.data() + c * L;
        if (std::all_of(wc, wc + L, [](float x) { return x == 1.0f; })) continue;
        weight_chunk(h.ptr() + (r * count + c) * L * D, wc, L, D);
      }
    }
    z = m.backend->to_backend(h);
  }
  return std::move(z).reshaped({R, count * L, D});
}

int item_chunks(const text::ClipTokenizer& tok, const std::string& prompt, const std::string& negative_prompt,
                bool guided, text::PromptReading reading) {
  const int c = text::prompt_chunks(tok, prompt, reading).count;
  return guided ? std::max(c, text::prompt_chunks(tok, negative_prompt, reading).count) : c;
}

}  // namespace farm::pipeline
