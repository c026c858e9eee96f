#include "farm/pipeline/ring_routes.h"

#include <algorithm>
#include <set>

#include "farm/core/error.h"

namespace farm::pipeline {

RingRoutes::RingRoutes(const std::vector<model::UNetBlockDesc>& blocks, const RingLayout& layout)
    : layout_(layout) {
  const int S = layout.stages;
  std::vector<int> stage_of(blocks.size(), -1);
  for (int s = 0; s < S; ++s)
    for (size_t b = layout.ranges.at(static_cast<size_t>(s)).first; b < layout.ranges[static_cast<size_t>(s)].second;
         ++b)
      stage_of.at(b) = s;
  incoming_.assign(static_cast<size_t>(S), {});
  outgoing_.assign(static_cast<size_t>(S), {});
  reads_context_.assign(static_cast<size_t>(S), false);
  // Replay the skip stack of one pass: a block pops before it runs and pushes after.
  std::vector<int> stack;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const auto& d = blocks[b];
    FARM_ASSERT(stage_of[b] >= 0, "block ", b, " is in no stage");
    if (d.kind == model::UNetBlockKind::transformer && d.context_dim > 0)
      reads_context_[static_cast<size_t>(stage_of[b])] = true;
    if (d.pops_skip) {
      FARM_ASSERT(!stack.empty(), d.name, " pops an empty skip stack");
      SkipRoute& r = skips_[static_cast<size_t>(stack.back())];
      stack.pop_back();
      r.pop_block = b;
      r.to = stage_of[b];
    }
    if (d.pushes_skip) {
      stack.push_back(static_cast<int>(skips_.size()));
      skips_.push_back({b, 0, stage_of[b], -1});
    }
  }
  FARM_ASSERT(stack.empty(), stack.size(), " skip tensors are never popped");
  for (size_t k = 0; k < skips_.size(); ++k) {
    const SkipRoute& r = skips_[k];
    if (r.from == r.to) continue;
    FARM_ASSERT(r.from < r.to, "skip ", k, " goes back from stage ", r.from, " to ", r.to);
    outgoing_[static_cast<size_t>(r.from)].push_back(static_cast<int>(k));
    incoming_[static_cast<size_t>(r.to)].push_back(static_cast<int>(k));
  }
}

bool RingRoutes::gets_batch(int stage) const {
  return stage > 0 && (reads_context(stage) || stage == layout_.stages - 1);
}

std::vector<kernels::LinkEdge> RingRoutes::link_edges() const {
  std::set<std::pair<int, int>> stage_pairs;  // (from, to) stages
  const int S = layout_.stages;
  if (S < 2) return {};
  for (int s = 0; s + 1 < S; ++s) stage_pairs.insert({s, s + 1});
  // No edge S-1 -> 0: the next step's latent comes from the host sampler and goes inline over MPI.
  for (const SkipRoute& r : skips_)
    if (r.from != r.to) stage_pairs.insert({r.from, r.to});
  for (int s = 1; s < S; ++s)
    if (reads_context(s)) stage_pairs.insert({0, s});
  std::vector<kernels::LinkEdge> edges;
  for (int p = 0; p < layout_.pipelines; ++p)
    for (const auto& [a, b] : stage_pairs) edges.push_back({layout_.rank_of(p, a), layout_.rank_of(p, b)});
  std::sort(edges.begin(), edges.end());
  return edges;
}

}  // namespace farm::pipeline
