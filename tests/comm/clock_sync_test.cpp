// offset_from_samples on synthetic ping-pongs: a remote clock `skew` ahead
// of rank 0's, one-way delays chosen per round. Times are multiples of 1/1024 s
// (exact in a double), so the estimate is compared exactly where the delays
// are symmetric and against the derived error where they are not.
#include <gtest/gtest.h>

#include <cmath>

#include "farm/comm/clock_sync.h"

namespace farm::comm {
namespace {

constexpr double kTick = 1.0 / 1024;

// A ping sent at `t_send` (rank 0's clock) taking `there` to arrive, answered
// `turnaround` later, the reply taking `back`.
ClockSample round_trip(double skew, double t_send, double there, double turnaround, double back) {
  ClockSample s;
  s.t_send = t_send;
  s.remote_receive = t_send + there + skew;
  s.remote_send = s.remote_receive + turnaround;
  s.t_recv = t_send + there + turnaround + back;
  return s;
}

TEST(ClockSync, SymmetricDelaysGiveTheSkewExactly) {
  const double skew = 5 * 1024 * kTick + 3 * kTick;
  const ClockOffset o = offset_from_samples({round_trip(skew, 1000, 2 * kTick, 0, 2 * kTick)});
  EXPECT_EQ(o.offset_s, skew);
  EXPECT_EQ(o.error_s, 2 * kTick);
}

TEST(ClockSync, RemoteTurnaroundIsNotPartOfTheRoundTrip) {
  // A reply held 100 ticks on the remote rank: the offset and the bound as without it.
  const double skew = -7 * kTick;
  const ClockOffset o = offset_from_samples({round_trip(skew, 50, 3 * kTick, 100 * kTick, 3 * kTick)});
  EXPECT_EQ(o.offset_s, skew);
  EXPECT_EQ(o.error_s, 3 * kTick);
}

TEST(ClockSync, AsymmetricDelaysStayWithinTheBound) {
  // There 1 tick, back 9: the estimate is off by (1 - 9) / 2 = -4 ticks, and
  // the bound (rtt / 2 = 5 ticks) covers it.
  const double skew = 123456 + 17 * kTick;  // hosts booted a day apart
  const ClockOffset o = offset_from_samples({round_trip(skew, 2000, 1 * kTick, 2 * kTick, 9 * kTick)});
  EXPECT_EQ(o.offset_s, skew - 4 * kTick);
  EXPECT_EQ(o.error_s, 5 * kTick);
  EXPECT_LE(std::abs(o.offset_s - skew), o.error_s);
}

TEST(ClockSync, TheShortestRoundTripWins) {
  // Rank 0 is 300 s ahead of the remote clock. Long, lopsided rounds (a
  // scheduler hiccup one way or the other) around one quick round.
  const double skew = -300;
  std::vector<ClockSample> rounds;
  double t = 10;
  for (int k = 0; k < 16; ++k) {
    const double there = k == 11 ? kTick : (k % 3 + 1) * 40 * kTick;
    const double back = k == 11 ? 2 * kTick : (k % 5 + 1) * 30 * kTick;
    rounds.push_back(round_trip(skew, t, there, (k % 4) * kTick, back));
    t += 1;
  }
  const ClockOffset o = offset_from_samples(rounds);
  EXPECT_EQ(o.offset_s, skew - kTick / 2);  // round 11: (1 - 2) / 2 ticks
  EXPECT_EQ(o.error_s, 1.5 * kTick);
  EXPECT_LE(std::abs(o.offset_s - skew), o.error_s);
}

TEST(ClockSync, EveryAsymmetryIsCovered) {
  // All splits of a 64-tick round trip, each alone: the truth is always inside the bound.
  for (int there = 0; there <= 64; ++there) {
    const double skew = 42 + there * kTick;
    const ClockOffset o = offset_from_samples({round_trip(skew, 7, there * kTick, 5 * kTick, (64 - there) * kTick)});
    EXPECT_EQ(o.error_s, 32 * kTick);
    EXPECT_LE(std::abs(o.offset_s - skew), o.error_s) << there << " ticks there";
  }
}

}  // namespace
}  // namespace farm::comm
