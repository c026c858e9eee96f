#include "partition/refiner_plan.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm::partition {

RefinerPlan place_with_refiner(const ModelCosts& base, const ModelCosts& refiner, int P, int S, int R, int base_steps,
                               int refiner_steps, const PlanOptions& o) {
  if (R > 0 && S < 2)
    fail("--refiner-stages ", R, ": a pipeline of 1 stage holds both models; base and refiner apart need at least ",
         R + 1, " stages per pipeline (--stages, and that many ranks per pipeline)");
  if (R < 0 || (R > 0 && R >= S))
    fail("--refiner-stages ", R, ": expected 0 (both models on every stage) or 1 to ", S - 1, " of the ", S,
         " stages per pipeline (the rest hold the base)");
  if (S > static_cast<int>(refiner.blocks.size()))
    fail("--stages ", S, ": the refiner's UNet has only ", refiner.blocks.size(), " blocks");
  RefinerPlan r;
  r.refiner_stages = R;
  r.base_steps = base_steps;
  r.refiner_steps = refiner_steps;
  r.base = partition(base, P, R ? S - R : S, o);
  r.refiner = partition(refiner, P, R ? R : S, o);
  const size_t nb = base.blocks.size();
  const int rb = R ? S - R : 0;  // the refiner's first ring stage
  r.stage_memory_bytes.assign(static_cast<size_t>(S), 0.0);
  r.stage_s.assign(static_cast<size_t>(S), 0.0);
  for (int s = 0; s < S; ++s) {
    const bool has_base = s < static_cast<int>(r.base.stage.size());
    const bool has_ref = s >= rb;
    if (has_base) {
      const auto& st = r.base.stage[static_cast<size_t>(s)];
      r.base_ranges.emplace_back(st.begin, st.end);
      r.stage_memory_bytes[s] += st.memory_bytes;
      // Its blocks each base step, plus the text encoder (stage 0) once.
      r.stage_s[s] += base_steps * st.block_s + st.text_s;
    } else {
      r.base_ranges.emplace_back(nb, nb);
    }
    if (has_ref) {
      const auto& st = r.refiner.stage[static_cast<size_t>(s - rb)];
      r.refiner_ranges.emplace_back(st.begin, st.end);
      r.stage_memory_bytes[s] += st.memory_bytes;
      // The refiner's VAE decodes; its text encoder is stage 0's (below when that is not a refiner stage).
      r.stage_s[s] += refiner_steps * st.block_s + (rb == 0 ? st.text_s : 0) + st.vae_s;
    } else {
      r.refiner_ranges.emplace_back(0, 0);
    }
  }
  // Stage 0 also runs the refiner's text encoder when the refiner starts later.
  if (rb > 0) {
    r.stage_s[0] += refiner.text_seconds;
    r.stage_memory_bytes[0] += refiner.text_weight_bytes;
  }
  const double slowest = *std::max_element(r.stage_s.begin(), r.stage_s.end());
  r.images_per_s = slowest > 0 ? P * static_cast<double>(base.workload.items) / slowest : 0;
  return r;
}

}  // namespace farm::partition
