#include "partition/partitioner.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "farm/core/error.h"
#include "partition/simulator.h"

namespace farm::partition {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string gigabytes(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GB", bytes / 1e9);
  return b;
}

// Min over splits of [0, n) into S contiguous non-empty stages of the max of
// cost(s, a, b); suffix tables so that the reconstruction can pick the
// earliest cuts. best[k][a]: the last k stages covering [a, n).
template <class Cost>
std::vector<std::vector<double>> suffix_table(size_t n, int S, Cost cost) {
  std::vector<std::vector<double>> best(static_cast<size_t>(S) + 1, std::vector<double>(n + 1, kInf));
  for (size_t a = 0; a < n; ++a) best[1][a] = cost(S - 1, a, n);
  for (int k = 2; k <= S; ++k)
    for (size_t a = 0; a + static_cast<size_t>(k) <= n; ++a)
      for (size_t b = a + 1; b + static_cast<size_t>(k - 1) <= n; ++b)
        best[k][a] = std::min(best[k][a], std::max(cost(S - k, a, b), best[k - 1][b]));
  return best;
}

}  // namespace

int resolve_window(int window, int stages) { return window > 0 ? window : (stages == 1 ? 1 : stages + 1); }

namespace {

StagePlan costed(const ModelCosts& c, size_t begin, size_t end, int index, int stages, int window,
                 const StageTraffic& t) {
  StagePlan s;
  s.begin = begin;
  s.end = end;
  s.text_encoder = index == 0;
  s.vae = index == stages - 1;
  double peak = 0;
  for (size_t i = begin; i < end; ++i) {
    s.block_s += c.blocks[i].seconds;
    s.weight_bytes += c.blocks[i].weight_bytes;
    peak = std::max(peak, c.blocks[i].peak_bytes);
  }
  if (s.text_encoder) {
    s.text_s = c.text_seconds;
    s.weight_bytes += c.text_weight_bytes;
    peak = std::max(peak, c.text_peak_bytes);
  }
  if (s.vae) {
    s.vae_s = c.vae_seconds;
    s.weight_bytes += c.vae_weight_bytes;
    peak = std::max(peak, c.vae_peak_bytes);
  }
  const double steps = c.workload.steps;
  s.compute_s = s.block_s + (s.text_s + s.vae_s) / steps;
  s.send_bytes = t.send_bytes;
  s.send_bytes_once = t.send_bytes_once;
  s.send_messages = t.messages;
  s.send_messages_once = t.messages_once;
  s.send_to = t.to;
  s.recv_bytes = t.recv_bytes;
  s.recv_bytes_once = t.recv_bytes_once;
  const auto& d = c.device;
  s.send_s = t.messages * d.link_latency_s + t.send_bytes / d.link_bytes_per_s;
  s.send_once_s = t.messages_once * d.link_latency_s + t.send_bytes_once / d.link_bytes_per_s;
  const double link_s = s.send_s + s.send_once_s / steps;
  s.time_s = d.overlap_transfers ? std::max(s.compute_s, link_s) : s.compute_s + link_s;
  s.activation_bytes = peak + window * (t.recv_bytes + (t.reads_context ? c.context_bytes : 0));
  s.memory_bytes = s.weight_bytes + s.activation_bytes;
  return s;
}

}  // namespace

StagePlan stage_cost(const ModelCosts& c, const std::vector<size_t>& ends, int index, int window) {
  const size_t begin = index == 0 ? 0 : ends.at(static_cast<size_t>(index - 1));
  return costed(c, begin, ends.at(static_cast<size_t>(index)), index, static_cast<int>(ends.size()), window,
                stage_traffic(c, ends, index));
}

StagePlan stage_cost_bound(const ModelCosts& c, size_t begin, size_t end, int index, int stages, int window) {
  return costed(c, begin, end, index, stages, window, stage_traffic_bound(c, begin, end, index, stages));
}

Plan partition(const ModelCosts& c, int pipelines, int stages, const PlanOptions& o) {
  const size_t n = c.blocks.size();
  if (pipelines < 1) fail("pipelines ", pipelines, ": expected at least 1");
  if (stages < 1 || static_cast<size_t>(stages) > n)
    fail("stages ", stages, ": expected 1..", n, " (the model has ", n, " blocks)");
  const int S = stages, window = resolve_window(o.window, S);
  const double cap = o.memory_cap_bytes > 0 ? o.memory_cap_bytes : c.device.memory_bytes;

  // O(S·n²) stage costs of O(n) each: well under a millisecond for SD's ~50 blocks.
  auto time_of = [&](int s, size_t a, size_t b) {
    const StagePlan p = stage_cost_bound(c, a, b, s, S, window);
    return p.memory_bytes <= cap ? p.time_s : kInf;
  };
  const auto best = suffix_table(n, S, time_of);
  const double v = best[static_cast<size_t>(S)][0];
  if (v == kInf) {
    const auto mem = suffix_table(n, S, [&](int s, size_t a, size_t b) {
      return stage_cost_bound(c, a, b, s, S, window).memory_bytes;
    });
    fail("memory cap ", gigabytes(cap), " per rank is too small for ", S, " stage(s) on ", c.device.name,
         ": the least any split needs is ", gigabytes(mem[static_cast<size_t>(S)][0]), " on its fullest rank");
  }

  Plan p;
  p.device = c.device.name;
  p.pipelines = pipelines;
  p.stages = S;
  p.window = window;
  p.blocks = n;
  p.overlap_transfers = c.device.overlap_transfers;
  p.vae_parts = c.vae_parts;
  p.workload = c.workload;
  std::vector<size_t> ends;
  size_t a = 0;
  for (int s = 0; s + 1 < S; ++s) {
    const size_t rest = static_cast<size_t>(S - s - 1);
    size_t b = a + 1;
    while (!(time_of(s, a, b) <= v && best[rest][b] <= v)) {
      ++b;
      FARM_ASSERT(b + rest <= n, "partition reconstruction failed");
    }
    ends.push_back(b);
    a = b;
  }
  ends.push_back(n);
  for (int s = 0; s < S; ++s) p.stage.push_back(stage_cost(c, ends, s, window));
  for (const auto& s : p.stage) p.step_s = std::max(p.step_s, s.time_s);
  // Exact figures never exceed their bounds (memory is the same either way).
  FARM_ASSERT(p.step_s <= v, "partition: exact ", p.step_s, " above the bound's optimum ", v);

  SimOptions so;
  so.micro_batches = o.sim_micro_batches_per_pipeline * pipelines;
  so.window = window;
  const SimResult r = simulate(p, so);
  p.images_per_s = r.images_per_s;
  p.bubble = r.bubble;
  for (int s = 0; s < S; ++s) p.stage[static_cast<size_t>(s)].busy = r.busy_steady[static_cast<size_t>(s)];
  return p;
}

std::vector<Plan> plans_for_ranks(const ModelCosts& c, int ranks, const PlanOptions& o) {
  if (ranks < 1) fail("ranks ", ranks, ": expected at least 1");
  std::vector<Plan> plans;
  std::string why;
  for (int s = 1; s <= ranks && static_cast<size_t>(s) <= c.blocks.size(); ++s) {
    if (ranks % s != 0) continue;
    try {
      plans.push_back(partition(c, ranks / s, s, o));
    } catch (const Error& e) {
      why += cat("\n  ", ranks / s, "x", s, ": ", e.what());
    }
  }
  if (plans.empty()) fail("no pipelines x stages layout of ", ranks, " rank(s) fits:", why);
  std::stable_sort(plans.begin(), plans.end(),
                   [](const Plan& x, const Plan& y) { return x.images_per_s > y.images_per_s; });
  return plans;
}

}  // namespace farm::partition
