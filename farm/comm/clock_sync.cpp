#include "farm/comm/clock_sync.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <thread>

#include "farm/core/error.h"

namespace farm::comm {

namespace {

// Read once: a trace clock must not jump if the environment changes.
double skew_per_rank_s() {
  static const double skew = [] {
    const char* e = std::getenv("FARM_CLOCK_SKEW_S");
    if (!e || !*e) return 0.0;
    char* end = nullptr;
    const double s = std::strtod(e, &end);
    if (*end) fail("FARM_CLOCK_SKEW_S='", e, "': expected seconds (a number)");
    return s;
  }();
  return skew;
}

// The ping-pong spins (yielding the core, for oversubscribed nodes) instead
// of napping as Transport::wait does: a nap would sit inside the round trip
// and widen the error bound by its length.
Message next_clock_message(Transport& t, int from) {
  std::optional<Message> m;
  while (!(m = t.poll())) std::this_thread::yield();
  FARM_ASSERT(m->tag == kClockSyncTag && m->source == from, "clock sync on rank ", t.rank(), ": got tag ", m->tag,
              " from rank ", m->source, " while waiting for rank ", from);
  return std::move(*m);
}

}  // namespace

double test_clock_skew_s(int rank) { return rank * skew_per_rank_s(); }

double steady_clock_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double trace_clock_s(int rank) { return steady_clock_s() + test_clock_skew_s(rank); }

ClockOffset offset_from_samples(const std::vector<ClockSample>& samples) {
  FARM_ASSERT(!samples.empty(), "no clock samples");
  const ClockSample* best = nullptr;
  double best_rtt = std::numeric_limits<double>::infinity();
  for (const auto& s : samples) {
    const double rtt = (s.t_recv - s.t_send) - (s.remote_send - s.remote_receive);
    if (rtt < best_rtt) best_rtt = rtt, best = &s;
  }
  // With one-way delays d1 (there) and d2 (back) the estimate is off by
  // (d1 - d2) / 2, at most (d1 + d2) / 2 = rtt / 2.
  return {(best->remote_receive + best->remote_send) / 2 - (best->t_send + best->t_recv) / 2,
          std::max(best_rtt, 0.0) / 2};
}

std::vector<ClockOffset> sync_clocks(Transport& t) {
  const int me = t.rank();
  if (me != 0) {
    // The first ping may be a while coming (rank 0 serves the ranks in turn).
    for (int k = 0; k < kClockSyncRounds; ++k) {
      Message m = k == 0 ? t.wait() : next_clock_message(t, 0);
      const double got = trace_clock_s(me);
      FARM_ASSERT(m.tag == kClockSyncTag && m.source == 0, "clock sync on rank ", me, ": got tag ", m.tag,
                  " from rank ", m.source);
      const double stamps[2] = {got, trace_clock_s(me)};
      Bytes reply(sizeof stamps);
      std::memcpy(reply.data(), stamps, sizeof stamps);  // raw doubles: the ranks share a byte order, as wire.h's tensors assume
      t.send(0, kClockSyncTag, std::move(reply));
    }
    t.broadcast({}, 0);  // see below
    return {};
  }
  std::vector<ClockOffset> offsets(static_cast<size_t>(t.size()));
  for (int r = 1; r < t.size(); ++r) {
    std::vector<ClockSample> samples;
    for (int k = 0; k < kClockSyncRounds; ++k) {
      ClockSample s;
      s.t_send = trace_clock_s(0);
      t.send(r, kClockSyncTag, Bytes{static_cast<uint8_t>(k)});
      const Message m = next_clock_message(t, r);
      s.t_recv = trace_clock_s(0);
      FARM_ASSERT(m.bytes.size() == 2 * sizeof(double), "clock reply of ", m.bytes.size(), " bytes from rank ", r);
      std::memcpy(&s.remote_receive, m.bytes.data(), sizeof(double));
      std::memcpy(&s.remote_send, m.bytes.data() + sizeof(double), sizeof(double));
      samples.push_back(s);
    }
    offsets[static_cast<size_t>(r)] = offset_from_samples(samples);
  }
  // No rank leaves before every rank is done: one that went on to its next
  // start-up step could message a rank still waiting for its pings.
  t.broadcast({}, 0);
  return offsets;
}

}  // namespace farm::comm
