// The direct ring's traffic (stage_traffic.h) against sums counted by hand
// from tiny-sd1's config, and the byte-conservation identities any split of
// SD 1.5 must satisfy.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "partition/partitioner.h"

namespace farm::partition {
namespace {

// tiny-sd1 (block_out_channels [32, 64], 2 layers per level, cross-attention
// in down_blocks.0, the mid block and up_blocks.1, time_embed_dim 128,
// cross_attention_dim 32), latent 16×16, one item with CFG (rows 2), the cpu
// profile (E = 4 bytes):
//   0 time_embedding  1 conv_in (push A [16,16,32])
//   2 down_blocks.0.resnets.0  3 .attentions.0 (push B [16,16,32], context)
//   4 down_blocks.0.resnets.1  5 .attentions.1 (push C [16,16,32], context)
//   6 down_blocks.0.downsamplers.0 (push D [8,8,32])
//   7 down_blocks.1.resnets.0 (push E [8,8,64])  8 .resnets.1 (push F [8,8,64])
//   9-11 mid block (10: attention, context); 12-14 up_blocks.0.resnets.0-2 pop F, E, D;
//   15 up_blocks.0.upsamplers.0 (-> [16,16,64]); 16, 18, 20 up_blocks.1.resnets
//   pop C, B, A; 17, 19, 21 up_blocks.1.attentions (context); 22 conv_out.
// Bytes (× 4, rows 2): A, B, C 2·16·16·32·4 = 65,536 each; D 2·8·8·32·4 =
// 16,384; timesteps 2·4 = 8 (fp32); temb 2·128·4 = 1,024; context
// 2·77·32·4 = 19,712; the return: latent 2·16·16·4 fp32 = 8,192 + timesteps 8.
constexpr double kA = 65536, kD = 16384, kTs = 8, kTemb = 1024, kCtx = 19712, kReturn = 8192 + 8;

class TinySd1 : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = ModelShape::from_folder(std::string(FARM_TEST_DATA) + "/tiny-sd1");
    ASSERT_EQ(m_.blocks.size(), 23u);
    ASSERT_EQ(m_.blocks[6].name, "down_blocks.0.downsamplers.0");
    ASSERT_EQ(m_.blocks[10].name, "mid_block.attentions.0");
    ASSERT_EQ(m_.blocks[15].name, "up_blocks.0.upsamplers.0");
    ASSERT_EQ(m_.blocks[22].name, "conv_out");
    Workload w;
    w.latent_h = w.latent_w = 16;
    w.steps = 4;
    c_ = estimate_costs(m_, w, device_profile("cpu"));
  }
  ModelShape m_;
  ModelCosts c_;
};

// Two stages, cut before block 7: stage 0 pushes A, B, C, D; all are popped
// by stage 1; the hidden state is D's tensor [2,8,8,32].
TEST_F(TinySd1, TwoStagesByHand) {
  const std::vector<size_t> ends{7, 23};
  const StageTraffic t0 = stage_traffic(c_, ends, 0), t1 = stage_traffic(c_, ends, 1);
  const double hidden = kD + kTs + kTemb;  // 17,416
  EXPECT_EQ(t0.send_bytes, hidden + 3 * kA + kD);
  EXPECT_EQ(t0.send_bytes, 230408);
  EXPECT_EQ(t0.messages, 2);  // hidden, skips to stage 1
  EXPECT_EQ(t0.send_bytes_once, kCtx);
  EXPECT_EQ(t0.messages_once, 1);
  ASSERT_EQ(t0.to.size(), 1u);
  EXPECT_EQ(t0.to[0].stage, 1);
  EXPECT_EQ(t0.to[0].bytes, 230408);
  EXPECT_EQ(t0.to[0].bytes_once, kCtx);
  EXPECT_EQ(t0.recv_bytes, kReturn);
  EXPECT_EQ(t1.send_bytes, kReturn);
  EXPECT_EQ(t1.messages, 1);
  EXPECT_EQ(t1.send_bytes_once, 0);
  EXPECT_EQ(t1.recv_bytes, 230408);
  EXPECT_EQ(t1.recv_bytes_once, kCtx);
  // Before, the cut also carried the context and a 256-byte header every step.
  EXPECT_EQ(c_.relayed_cut_bytes[7] - t0.send_bytes, kCtx + 256);
}

// Three stages, cuts before 7 and 16: D goes 0 -> 1 (popped by 14), A, B, C go
// straight 0 -> 2, past stage 1; E, F stay inside stage 1.
TEST_F(TinySd1, ThreeStagesByHand) {
  const std::vector<size_t> ends{7, 16, 23};
  const StageTraffic t0 = stage_traffic(c_, ends, 0), t1 = stage_traffic(c_, ends, 1),
                     t2 = stage_traffic(c_, ends, 2);
  const double hidden7 = kD + kTs + kTemb, hidden16 = 2 * 16 * 16 * 64 * 4 + kTs + kTemb;  // 17,416; 132,104
  EXPECT_EQ(t0.send_bytes, hidden7 + kD + 3 * kA);
  EXPECT_EQ(t0.messages, 3);  // hidden to 1, skips to 1, skips to 2
  ASSERT_EQ(t0.to.size(), 2u);
  EXPECT_EQ(t0.to[0].stage, 1);
  EXPECT_EQ(t0.to[0].bytes, hidden7 + kD);
  EXPECT_EQ(t0.to[1].stage, 2);
  EXPECT_EQ(t0.to[1].bytes, 3 * kA);
  // Both later stages hold cross-attention (the mid block's, up_blocks.1's).
  EXPECT_EQ(t0.send_bytes_once, 2 * kCtx);
  EXPECT_EQ(t0.messages_once, 2);
  EXPECT_EQ(t0.to[0].bytes_once, kCtx);
  EXPECT_EQ(t0.to[1].bytes_once, kCtx);
  EXPECT_EQ(t1.send_bytes, hidden16);
  EXPECT_EQ(t1.send_bytes, 132104);
  EXPECT_EQ(t1.messages, 1);
  EXPECT_EQ(t1.recv_bytes, hidden7 + kD);
  EXPECT_EQ(t1.recv_bytes_once, kCtx);
  EXPECT_EQ(t2.send_bytes, kReturn);
  EXPECT_EQ(t2.recv_bytes, hidden16 + 3 * kA);
  // The relaying ring sent A, B, C through stage 1 and the context every step.
  EXPECT_EQ(c_.relayed_cut_bytes[16], (32768 + 3 * 16384 + 256 + 4928) * 4 + 8 + 256);
  EXPECT_EQ(c_.relayed_cut_bytes[16] - t1.send_bytes, 3 * kA + kCtx + 256);

  // The plan's stage carries these figures; link time is one latency per
  // message; memory holds window × (what arrives per step + the context).
  const int window = 4;
  const StagePlan p0 = stage_cost(c_, ends, 0, window), p1 = stage_cost(c_, ends, 1, window);
  const auto& d = c_.device;
  EXPECT_DOUBLE_EQ(p0.send_s, 3 * d.link_latency_s + t0.send_bytes / d.link_bytes_per_s);
  EXPECT_DOUBLE_EQ(p0.send_once_s, 2 * d.link_latency_s + 2 * kCtx / d.link_bytes_per_s);
  EXPECT_DOUBLE_EQ(p0.time_s, p0.compute_s + p0.send_s + p0.send_once_s / 4);  // cpu: sends do not overlap
  double peak = 0;
  for (size_t i = 7; i < 16; ++i) peak = std::max(peak, c_.blocks[i].peak_bytes);
  EXPECT_DOUBLE_EQ(p1.activation_bytes, peak + window * (hidden7 + kD + kCtx));
}

// A last stage without cross-attention (conv_out alone) gets the items only:
// a batch message without tensor bytes.
TEST_F(TinySd1, LastStageWithoutContextGetsItemsOnly) {
  const std::vector<size_t> ends{22, 23};
  const StageTraffic t0 = stage_traffic(c_, ends, 0), t1 = stage_traffic(c_, ends, 1);
  EXPECT_EQ(t0.send_bytes, 2 * 16 * 16 * 32 * 4 + kTs + kTemb);  // hidden after up_blocks.1.attentions.2
  EXPECT_EQ(t0.send_bytes_once, 0);
  EXPECT_EQ(t0.messages_once, 1);
  EXPECT_FALSE(t1.reads_context);
  EXPECT_EQ(t1.recv_bytes_once, 0);
  const StagePlan p1 = stage_cost(c_, ends, 1, 3);
  EXPECT_DOUBLE_EQ(p1.activation_bytes, std::max(c_.blocks[22].peak_bytes, c_.vae_peak_bytes) + 3 * t0.send_bytes);
}

// One stage sends nothing.
TEST_F(TinySd1, OneStageSendsNothing) {
  const StageTraffic t = stage_traffic(c_, {23}, 0);
  EXPECT_EQ(t.send_bytes + t.send_bytes_once + t.recv_bytes + t.messages + t.messages_once, 0);
  EXPECT_TRUE(t.reads_context);
}

// The bound (the partitioner's search) equals the exact figures in bytes per
// step and received, and is never below them elsewhere.
TEST_F(TinySd1, BoundIsExactPerStepAndAboveOnce) {
  for (const auto& ends : std::vector<std::vector<size_t>>{{7, 23}, {7, 16, 23}, {3, 12, 18, 23}, {22, 23}}) {
    const int S = static_cast<int>(ends.size());
    for (int s = 0; s < S; ++s) {
      const StageTraffic e = stage_traffic(c_, ends, s);
      const StageTraffic b =
          stage_traffic_bound(c_, s == 0 ? 0 : ends[static_cast<size_t>(s - 1)], ends[static_cast<size_t>(s)], s, S);
      EXPECT_EQ(b.send_bytes, e.send_bytes);
      EXPECT_EQ(b.recv_bytes, e.recv_bytes);
      EXPECT_EQ(b.recv_bytes_once, e.recv_bytes_once);
      EXPECT_GE(b.messages, e.messages);
      EXPECT_GE(b.send_bytes_once, e.send_bytes_once);
      EXPECT_GE(b.messages_once, e.messages_once);
    }
  }
}

// SD 1.5 at 512², fp16, random splits of 2..8 stages: every byte sent is
// received; the skips sent are exactly those whose push and pop stages
// differ, once each; the direct ring never sends more per step than the
// relaying one did.
TEST(StageTraffic, Sd15ConservationOnRandomSplits) {
  const ModelShape m = ModelShape::from_folder(std::string(FARM_SOURCE_DIR) + "/configs/sd15");
  const ModelCosts c = estimate_costs(m, Workload{}, device_profile("a100"));
  const size_t n = c.blocks.size();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int S = 2 + static_cast<int>(rng() % 7);
    std::vector<size_t> cuts(n - 1);
    std::iota(cuts.begin(), cuts.end(), 1);
    std::shuffle(cuts.begin(), cuts.end(), rng);
    std::vector<size_t> ends(cuts.begin(), cuts.begin() + S - 1);
    std::sort(ends.begin(), ends.end());
    ends.push_back(n);
    auto stage_of = [&](size_t b) { return std::upper_bound(ends.begin(), ends.end(), b) - ends.begin(); };
    double sent = 0, received = 0, sent_once = 0, received_once = 0, relayed = 0, expect = 0;
    for (int s = 0; s < S; ++s) {
      const StageTraffic t = stage_traffic(c, ends, s);
      sent += t.send_bytes;
      received += t.recv_bytes;
      sent_once += t.send_bytes_once;
      received_once += t.recv_bytes_once;
      relayed += c.relayed_cut_bytes[ends[static_cast<size_t>(s)]];
      expect += c.hidden_msg_bytes[ends[static_cast<size_t>(s)]];
      double to_sum = 0;
      for (const auto& f : t.to) to_sum += f.bytes;
      EXPECT_EQ(to_sum, t.send_bytes);
    }
    for (const auto& k : c.skips)
      if (stage_of(k.pushed_by) != stage_of(k.popped_by)) expect += k.bytes;
    EXPECT_EQ(sent, received);
    EXPECT_EQ(sent, expect);
    EXPECT_EQ(sent_once, received_once);
    EXPECT_LE(sent, relayed);
  }
}

}  // namespace
}  // namespace farm::partition
