// The ring simulator against closed forms derived by hand for the policy in
// simulator.h. Times are binary fractions so every sum is exact.
#include <gtest/gtest.h>

#include <numeric>

#include "partition/simulator.h"

namespace farm::partition {
namespace {

Plan ring(const std::vector<double>& block_s, int steps, double text_s = 0, double vae_s = 0, double send_s = 0,
          bool overlap = true, int pipelines = 1, int64_t items = 1) {
  Plan p;
  p.stages = static_cast<int>(block_s.size());
  p.pipelines = pipelines;
  p.window = resolve_window(0, p.stages);
  p.overlap_transfers = overlap;
  p.workload.steps = steps;
  p.workload.items = items;
  for (size_t s = 0; s < block_s.size(); ++s) {
    StagePlan st;
    st.begin = s;
    st.end = s + 1;
    st.block_s = block_s[s];
    st.text_encoder = s == 0;
    st.vae = s + 1 == block_s.size();
    st.text_s = st.text_encoder ? text_s : 0;
    st.vae_s = st.vae ? vae_s : 0;
    st.send_s = p.stages > 1 ? send_s : 0;
    p.stage.push_back(st);
  }
  p.blocks = block_s.size();
  return p;
}

SimResult run(const Plan& p, int micro_batches, int window = 0) {
  SimOptions o;
  o.micro_batches = micro_batches;
  o.window = window;
  return simulate(p, o);
}

// S = 1: micro-batches one after another, each text + T·t + VAE.
TEST(Simulator, SingleStageIsSequential) {
  const SimResult r = run(ring({0.5}, 3, 0.25, 0.125), 5);
  EXPECT_EQ(r.makespan_s, 5 * (0.25 + 3 * 0.5 + 0.125));
  EXPECT_EQ(r.images_per_s, 5 / r.makespan_s);
  EXPECT_EQ(r.busy[0], 1);
  EXPECT_EQ(r.bubble_overall, 0);
  // Two pipelines, 5 micro-batches of 4 images: pipeline 0 runs 3 of them.
  const SimResult q = run(ring({0.5}, 3, 0.25, 0.125, 0, true, 2, 4), 5);
  EXPECT_EQ(q.makespan_s, 3 * (0.25 + 3 * 0.5 + 0.125));
  EXPECT_EQ(q.images_per_s, 5 * 4 / q.makespan_s);
}

// Balanced ring of S stages of t, no transfer time, window >= S, M a multiple
// of S: stage 0 admits S micro-batches at 0, t, .., (S-1)t; the first returns
// at S·t just as stage 0 frees up, so stage 0 works back to back on M·T
// micro-batch steps; a finished group's slots go to the next group at once.
// The last step leaves stage 0 at M·T·t and needs S-1 more stages:
//   makespan = M·T·t + (S-1)·t, steady-state bubble 0.
TEST(Simulator, BalancedRingHasNoSteadyBubble) {
  const double t = 0.5;
  const int S = 4, T = 3, M = 12;
  for (int window : {S, S + 1, S + 3}) {
    const SimResult r = run(ring(std::vector<double>(S, t), T), M, window);
    EXPECT_EQ(r.makespan_s, M * T * t + (S - 1) * t) << window;
    EXPECT_EQ(r.bubble, 0) << window;
    EXPECT_EQ(r.steady_begin_s, T * S * t);  // first completion
    for (double b : r.busy_steady) EXPECT_EQ(b, 1);
    EXPECT_GT(r.bubble_overall, 0);  // fill and drain
  }
}

// Without overlap the sender copies for c after computing t: every stage
// takes tau = t + c, except that the final step is not sent back:
//   makespan = M·T·tau + (S-1)·tau - c.
// The last stage idles c after each final step (nothing to send), so in the
// steady state it is busy (T·tau - c) / (T·tau): bubble c / (S·T·tau).
TEST(Simulator, CpuCopiesCountAsBusy) {
  const double t = 0.5, c = 0.25, tau = t + c;
  const int S = 2, T = 4;
  for (int M : {6, 200}) {
    const SimResult r = run(ring({t, t}, T, 0, 0, c, false), M);
    EXPECT_EQ(r.makespan_s, M * T * tau + (S - 1) * tau - c);
  }
  const SimResult r = run(ring({t, t}, T, 0, 0, c, false), 200);
  EXPECT_NEAR(r.bubble, c / (S * T * tau), 0.005);
  EXPECT_EQ(r.busy_steady[0], 1);
}

// The slowest stage sets the throughput: it must do M·T steps of t_max, and
// with S+1 micro-batches in flight it never waits once the ring is full.
TEST(Simulator, UnbalancedRingRunsAtTheSlowestStage) {
  const std::vector<double> t = {0.5, 1.0, 0.25};
  const int T = 5, M = 40;
  const SimResult r = run(ring(t, T), M);
  const double t_max = 1.0, sum = std::accumulate(t.begin(), t.end(), 0.0);
  EXPECT_GE(r.makespan_s, M * T * t_max);
  EXPECT_LE(r.makespan_s, M * T * t_max + T * sum);
  EXPECT_NEAR(r.busy_steady[1], 1.0, 1e-12);
  EXPECT_NEAR(r.busy_steady[0], 0.5, 0.02);
  EXPECT_NEAR(r.busy_steady[2], 0.25, 0.02);
}

// Window w < S on a balanced ring: w micro-batches circulate as a group; the
// group's last final step leaves stage 0 ((T-1)·S + w)·t after the group
// started, and the next group is admitted then. With G = M / w groups the
// last one ends (T-1)·S·t + (w-1)·t + S·t after it starts:
//   makespan = G·((T-1)·S + w)·t + (S-1)·t,
// and each stage is busy w·T·t per group period: busy ≈ w·T / ((T-1)·S + w).
TEST(Simulator, SmallWindowLeavesAPredictableBubble) {
  const double t = 0.5;
  const int S = 4, T = 3, w = 2;
  for (int M : {6, 40}) {
    const int G = M / w;
    const SimResult r = run(ring(std::vector<double>(S, t), T), M, w);
    EXPECT_EQ(r.makespan_s, G * ((T - 1) * S + w) * t + (S - 1) * t) << M;
  }
  const SimResult r = run(ring(std::vector<double>(S, t), T), 200, w);
  EXPECT_NEAR(r.bubble, 1 - double(w * T) / ((T - 1) * S + w), 0.01);
}

// Text on admission and VAE after the last step lengthen stage 0 and the last
// stage only for those passes: S = 2, one micro-batch, T steps:
//   text + T·(t0 + t1) + vae.
TEST(Simulator, TextAndVaeRunOncePerMicroBatch) {
  const SimResult r = run(ring({0.5, 0.25}, 4, 1.0, 2.0), 1);
  EXPECT_EQ(r.makespan_s, 1.0 + 4 * (0.5 + 0.25) + 2.0);
  ASSERT_EQ(r.completed_s.size(), 1u);
}

// Stage 0 sends a micro-batch's batch messages (send_once_s: the context)
// once, on admission, ahead of its first hidden state; S = 2, one
// micro-batch, T steps, c per step sent (none after the final step):
//   once + T·(t0 + t1) + (2T - 1)·c, with or without overlap (one micro-batch
//   never waits for a busy sender).
TEST(Simulator, BatchMessagesGoOncePerMicroBatch) {
  const double once = 0.0625, c = 0.125;
  const int T = 4;
  for (bool overlap : {true, false}) {
    Plan p = ring({0.5, 0.25}, T, 0, 0, c, overlap);
    p.stage[0].send_once_s = once;
    const SimResult r = run(p, 1);
    EXPECT_EQ(r.makespan_s, once + T * (0.5 + 0.25) + (2 * T - 1) * c) << overlap;
  }
}

}  // namespace
}  // namespace farm::partition
