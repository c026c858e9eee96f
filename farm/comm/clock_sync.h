// Clock offsets between ranks, so that traces from several hosts share one
// timeline (`farm render --trace`). A rank stamps its trace with its steady
// clock (CLOCK_MONOTONIC on Linux: seconds since its host booted), so two
// hosts' stamps differ by a constant (plus a slow drift this ignores: it is
// measured once, at start-up). Rank 0 measures that constant NTP-style: it
// pings each rank in turn and keeps the round with the shortest round trip,
// the one whose midpoint pins down best when the other rank read its clock.
#pragma once

#include <vector>

#include "farm/comm/transport.h"

namespace farm::comm {

// The steady clock in seconds, where every busy interval and message stamp
// of a trace is taken (pipeline::RingStats).
double steady_clock_s();
// Seconds on the clock a rank's trace is reported in: the steady clock plus
// rank × FARM_CLOCK_SKEW_S. That variable is for tests only: it makes the
// ranks of one host look like hosts whose clocks disagree by a known amount.
double test_clock_skew_s(int rank);
double trace_clock_s(int rank);

// One ping-pong round, as rank 0 sees it: it sends the ping at `t_send` and
// gets the reply at `t_recv` (its clock); the other rank read its own clock
// when the ping arrived (`remote_receive`) and as it replied (`remote_send`).
struct ClockSample {
  double t_send = 0, remote_receive = 0, remote_send = 0, t_recv = 0;
};

// The other rank's clock minus rank 0's (`offset_s`; subtract it from the
// rank's stamps), and how far from the truth that can be (`error_s`).
struct ClockOffset {
  double offset_s = 0, error_s = 0;
};

// From the round with the shortest round trip (the reply's turnaround on the
// remote rank excluded): the remote stamps' midpoint minus the local ones'.
// However that round trip split between the two directions, the true offset
// lies within half of it of the estimate, so error_s = round trip / 2.
ClockOffset offset_from_samples(const std::vector<ClockSample>& samples);

// The clock messages' tag: RingTag (pipeline/ring_messages.h) uses 1-8.
constexpr int kClockSyncTag = 64;
// Pings per rank: enough that one round likely missed every scheduler hiccup.
constexpr int kClockSyncRounds = 64;

// Collective: every rank calls it while no other message is in flight, and
// none returns before rank 0 has served them all. On rank 0: each rank's
// offset from rank 0's trace clock (its own: 0 ± 0); on the others: empty.
std::vector<ClockOffset> sync_clocks(Transport& t);

}  // namespace farm::comm
