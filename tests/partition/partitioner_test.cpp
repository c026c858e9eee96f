// The partitioner against brute force: every way to cut n blocks into S
// contiguous non-empty stages, each stage costed here from the raw vectors
// (independently of stage_cost): the best min-max value of the bound
// (stage_traffic_bound) must equal the DP's, and the chosen split's exact
// figures must lie between the exact optimum and that value.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "farm/core/error.h"
#include "partition/partitioner.h"

namespace farm::partition {
namespace {

ModelCosts random_costs(std::mt19937& rng, size_t n, bool overlap) {
  std::uniform_real_distribution<double> u(0.1, 1.0);
  ModelCosts c;
  c.workload.steps = 1 + static_cast<int>(rng() % 30);
  c.device.name = "test";
  c.device.flops = 1;
  c.device.link_bytes_per_s = 1e9 * u(rng);
  c.device.link_latency_s = 1e-3 * u(rng);
  c.device.memory_bytes = 1e12;
  c.device.overlap_transfers = overlap;
  for (size_t i = 0; i < n; ++i) {
    BlockCost b;
    b.name = cat("b", i);
    b.seconds = u(rng);
    b.weight_bytes = 1e8 * u(rng);
    b.peak_bytes = 1e7 * u(rng);
    c.blocks.push_back(b);
  }
  // Messages: hidden states, a few skips (pushed before popped), the context.
  for (size_t i = 0; i <= n; ++i) c.hidden_msg_bytes.push_back(1e9 * u(rng));
  c.hidden_msg_bytes[n] = c.hidden_msg_bytes[0];
  for (size_t k = 0, skips = rng() % (n + 1); k < skips && n > 1; ++k) {
    const size_t a = rng() % (n - 1);
    c.skips.push_back({.pushed_by = a, .popped_by = a + 1 + rng() % (n - 1 - a), .bytes = 1e9 * u(rng)});
  }
  for (auto& b : c.blocks) b.reads_context = rng() % 2 == 0;
  c.context_bytes = 1e9 * u(rng);
  c.text_seconds = 2 * u(rng);
  c.vae_seconds = 5 * u(rng);
  c.text_weight_bytes = 3e8 * u(rng);
  c.vae_weight_bytes = 1e8 * u(rng);
  c.text_peak_bytes = 1e7 * u(rng);
  c.vae_peak_bytes = 5e7 * u(rng);
  return c;
}

struct Brute {
  double best = std::numeric_limits<double>::infinity();        // of the bound
  double best_exact = std::numeric_limits<double>::infinity();  // of the exact figures
  double least_memory = std::numeric_limits<double>::infinity();  // min over splits of the fullest rank
};

bool reads_context(const ModelCosts& c, size_t a, size_t b) {
  for (size_t i = a; i < b; ++i)
    if (c.blocks[i].reads_context) return true;
  return false;
}

// Stage s of the split `ends`, from the definitions in partitioner.h and
// stage_traffic.h; bound: only the stage's own range is used.
void stage_time_memory(const ModelCosts& c, const std::vector<size_t>& ends, int s, int window, bool bound,
                       double* time, double* memory) {
  const int S = static_cast<int>(ends.size());
  const size_t a = s == 0 ? 0 : ends[s - 1], b = ends[s];
  double blocks = 0, weights = 0, peak = 0, once = 0;
  for (size_t i = a; i < b; ++i) {
    blocks += c.blocks[i].seconds;
    weights += c.blocks[i].weight_bytes;
    peak = std::max(peak, c.blocks[i].peak_bytes);
  }
  if (s == 0) {
    once += c.text_seconds;
    weights += c.text_weight_bytes;
    peak = std::max(peak, c.text_peak_bytes);
  }
  if (s == S - 1) {
    once += c.vae_seconds;
    weights += c.vae_weight_bytes;
    peak = std::max(peak, c.vae_peak_bytes);
  }
  const double compute = blocks + once / c.workload.steps;
  double step_bytes = 0, recv = 0, once_bytes = 0;
  int messages = 0, once_messages = 0;
  if (S > 1) {
    auto stage_of = [&](size_t i) {
      int k = 0;
      while (ends[k] <= i) ++k;
      return k;
    };
    step_bytes = c.hidden_msg_bytes[b];
    recv = s == 0 ? c.hidden_msg_bytes[0] : c.hidden_msg_bytes[a];
    std::vector<int> to(S, 0);
    std::vector<size_t> pops;
    for (const auto& k : c.skips) {
      if (k.pushed_by >= a && k.pushed_by < b && k.popped_by >= b) {
        step_bytes += k.bytes;
        to[stage_of(k.popped_by)] = 1;
        if (std::find(pops.begin(), pops.end(), k.popped_by) == pops.end()) pops.push_back(k.popped_by);
      }
      if (s > 0 && k.pushed_by < a && k.popped_by >= a && k.popped_by < b) recv += k.bytes;
    }
    const int receivers = std::accumulate(to.begin(), to.end(), 0);
    messages = 1 + (bound ? std::min(static_cast<int>(pops.size()), S - 1 - s) : receivers);
    if (s == 0) {
      for (int t = 1; t < S; ++t) {
        const bool r = bound || reads_context(c, ends[t - 1], ends[t]);
        once_bytes += r ? c.context_bytes : 0;
        once_messages += r || t == S - 1 ? 1 : 0;
      }
    }
  }
  const auto& d = c.device;
  const double send = messages * d.link_latency_s + step_bytes / d.link_bytes_per_s +
                      (once_messages * d.link_latency_s + once_bytes / d.link_bytes_per_s) / c.workload.steps;
  *time = d.overlap_transfers ? std::max(compute, send) : compute + send;
  const bool ctx = reads_context(c, a, b);
  *memory = weights + (peak + window * (recv + (ctx ? c.context_bytes : 0)));
}

Brute brute_force(const ModelCosts& c, int S, int window, double cap) {
  const size_t n = c.blocks.size();
  Brute r;
  std::vector<size_t> ends;
  std::function<void(size_t)> rec = [&](size_t a) {
    const int s = static_cast<int>(ends.size());
    if (s == S - 1) {
      ends.push_back(n);
      double worst = 0, worst_exact = 0, fullest = 0;
      for (int k = 0; k < S; ++k) {
        double t, m, te, me;
        stage_time_memory(c, ends, k, window, true, &t, &m);
        stage_time_memory(c, ends, k, window, false, &te, &me);
        EXPECT_EQ(m, me);
        fullest = std::max(fullest, m);
        worst = std::max(worst, m <= cap ? t : std::numeric_limits<double>::infinity());
        worst_exact = std::max(worst_exact, m <= cap ? te : std::numeric_limits<double>::infinity());
      }
      r.best_exact = std::min(r.best_exact, worst_exact);
      r.best = std::min(r.best, worst);
      r.least_memory = std::min(r.least_memory, fullest);
      ends.pop_back();
      return;
    }
    for (size_t b = a + 1; b + static_cast<size_t>(S - s - 1) <= n; ++b) {
      ends.push_back(b);
      rec(b);
      ends.pop_back();
    }
  };
  rec(0);
  return r;
}

TEST(Partitioner, MatchesBruteForceOnRandomCosts) {
  int feasible = 0, infeasible = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    const size_t n = 1 + rng() % 12;
    const int S = 1 + static_cast<int>(rng() % std::min<size_t>(5, n));
    ModelCosts c = random_costs(rng, n, seed % 2 == 0);
    PlanOptions o;
    o.window = static_cast<int>(rng() % 4);  // 0: the default
    o.sim_micro_batches_per_pipeline = 4;
    const int window = resolve_window(o.window, S);
    // Caps from generous to too small.
    const double caps[] = {1e13, 2e9 + 4e9 * std::uniform_real_distribution<double>(0, 1)(rng), 1e8};
    for (double cap : caps) {
      o.memory_cap_bytes = cap;
      const Brute b = brute_force(c, S, window, cap);
      SCOPED_TRACE(testing::Message() << "seed " << seed << " n " << n << " S " << S << " cap " << cap);
      if (b.best == std::numeric_limits<double>::infinity()) {
        ++infeasible;
        try {
          partition(c, 1, S, o);
          ADD_FAILURE() << "expected an infeasible-cap error";
        } catch (const Error& e) {
          const std::string msg = e.what();
          char want_cap[64], want_least[64];
          std::snprintf(want_cap, sizeof want_cap, "memory cap %.2f GB", cap / 1e9);
          std::snprintf(want_least, sizeof want_least, "needs is %.2f GB", b.least_memory / 1e9);
          EXPECT_NE(msg.find(want_cap), std::string::npos) << msg;
          EXPECT_NE(msg.find(want_least), std::string::npos) << msg;
        }
        continue;
      }
      ++feasible;
      const Plan p = partition(c, 1, S, o);
      ASSERT_EQ(p.stage.size(), static_cast<size_t>(S));
      std::vector<size_t> ends;
      size_t next = 0;
      for (const auto& st : p.stage) {
        EXPECT_EQ(st.begin, next);
        EXPECT_LT(st.begin, st.end);
        next = st.end;
        ends.push_back(st.end);
      }
      double worst = 0;  // of the bound: what the DP minimised
      for (int k = 0; k < S; ++k) {
        const auto& st = p.stage[k];
        double t, m, te, me;
        stage_time_memory(c, ends, k, window, true, &t, &m);
        stage_time_memory(c, ends, k, window, false, &te, &me);
        EXPECT_DOUBLE_EQ(st.time_s, te);
        EXPECT_DOUBLE_EQ(st.memory_bytes, me);
        EXPECT_LE(st.memory_bytes, cap);
        EXPECT_EQ(st.text_encoder, k == 0);
        EXPECT_EQ(st.vae, k == S - 1);
        worst = std::max(worst, t);
      }
      EXPECT_LE(p.step_s, b.best);
      EXPECT_GE(p.step_s, b.best_exact * (1 - 1e-12));
      EXPECT_EQ(next, n);
      EXPECT_DOUBLE_EQ(worst, b.best);
    }
  }
  EXPECT_GT(feasible, 300);
  EXPECT_GT(infeasible, 50);
}

ModelCosts flat_costs(const std::vector<double>& seconds) {
  ModelCosts c;
  c.device.name = "test";
  c.device.link_bytes_per_s = 1;
  c.device.memory_bytes = 1;
  c.device.overlap_transfers = true;
  for (double s : seconds) c.blocks.push_back({.name = "b", .seconds = s});
  c.hidden_msg_bytes.assign(seconds.size() + 1, 0);
  return c;
}

// One stage per pipeline: the simulator's long job is 64 micro-batches per
// pipeline back to back, so images/s = P·items / (text + T·blocks + VAE).
TEST(Partitioner, DataParallelThroughputIsClosedForm) {
  ModelCosts c = flat_costs({0.5, 0.25, 0.125});
  c.workload.steps = 10;
  c.workload.items = 3;
  c.text_seconds = 0.25;
  c.vae_seconds = 1.5;
  c.device.memory_bytes = 1e9;
  const Plan p = partition(c, 4, 1);
  EXPECT_DOUBLE_EQ(p.images_per_s, 4 * 3 / (0.25 + 10 * 0.875 + 1.5));
  EXPECT_EQ(p.step_s, 0.875 + (0.25 + 1.5) / 10);
  EXPECT_EQ(p.stage[0].send_bytes, 0);
  EXPECT_EQ(p.bubble, 0);
}

TEST(Partitioner, TiesTakeTheEarliestCuts) {
  // [1 | 0 1] and [1 0 | 1] both give 1: the earlier cut wins.
  const Plan p = partition(flat_costs({1, 0, 1}), 1, 2);
  EXPECT_EQ(p.stage[0].end, 1u);
  EXPECT_EQ(p.step_s, 1);
  // [2 | 1 1 | 2]: unique optimum 2.
  const Plan q = partition(flat_costs({2, 1, 1, 2}), 1, 3);
  EXPECT_EQ(q.stage[0].end, 1u);
  EXPECT_EQ(q.stage[1].end, 3u);
}

TEST(Partitioner, BadStageCounts) {
  const ModelCosts c = flat_costs({1, 1});
  EXPECT_THROW(partition(c, 1, 3), Error);
  EXPECT_THROW(partition(c, 1, 0), Error);
  EXPECT_THROW(partition(c, 0, 1), Error);
  EXPECT_THROW(plans_for_ranks(c, 0), Error);
}

TEST(Partitioner, PlansForRanksCoversEveryFactorisation) {
  ModelCosts c = flat_costs(std::vector<double>(6, 0.5));
  c.workload.steps = 4;
  c.device.link_bytes_per_s = 1e9;
  PlanOptions o;
  o.sim_micro_batches_per_pipeline = 8;
  const auto plans = plans_for_ranks(c, 12, o);
  // S in {1, 2, 3, 4, 6} (12 would exceed the 6 blocks).
  std::vector<int> stages;
  for (const auto& p : plans) {
    stages.push_back(p.stages);
    EXPECT_EQ(p.pipelines * p.stages, 12);
  }
  std::sort(stages.begin(), stages.end());
  EXPECT_EQ(stages, (std::vector<int>{1, 2, 3, 4, 6}));
  for (size_t i = 1; i < plans.size(); ++i) EXPECT_GE(plans[i - 1].images_per_s, plans[i].images_per_s);
}

}  // namespace
}  // namespace farm::partition
