#include "farm/coord/batcher.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm {

bool compatible(const JobItem& a, const JobItem& b) {
  const auto same_loras = [](const std::vector<ItemLora>& x, const std::vector<ItemLora>& y) {
    return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                      [](const ItemLora& p, const ItemLora& q) { return p.name == q.name && p.weight == q.weight; });
  };
  return a.width == b.width && a.height == b.height && a.steps == b.steps && a.sampler == b.sampler &&
         a.clip_skip == b.clip_skip && a.reading == b.reading && a.text_chunks == b.text_chunks &&
         same_loras(a.loras, b.loras) && a.refiner == b.refiner &&
         (a.refiner.empty() || a.refiner_switch == b.refiner_switch);
}

std::vector<std::vector<JobItem>> make_micro_batches(const std::vector<JobItem>& items, int max_items) {
  FARM_ASSERT(max_items >= 1, "micro-batch size ", max_items);
  // Each open micro-batch is the last one of its kind; there are few kinds, so a linear scan is enough.
  std::vector<std::vector<JobItem>> out;
  std::vector<size_t> open;
  for (const auto& it : items) {
    size_t k = 0;
    while (k < open.size() && !compatible(out[open[k]].front(), it)) ++k;
    if (k == open.size()) {
      open.push_back(out.size());
      out.emplace_back();
    } else if (out[open[k]].size() == static_cast<size_t>(max_items)) {
      open[k] = out.size();
      out.emplace_back();
    }
    out[open[k]].push_back(it);
  }
  return out;
}

}  // namespace farm
