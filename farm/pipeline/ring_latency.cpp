#include "farm/pipeline/ring_latency.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "farm/core/error.h"

namespace farm::pipeline {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

comm::Message receive_probe(comm::Transport& t, int from, double timeout_s) {
  const auto m = t.wait_for(timeout_s);
  if (!m)
    fail("rank ", t.rank(), " (", t.host(), "): no message from rank ", from, " within ", timeout_s,
         " s while timing the ring's links at start-up (is that rank's host reachable?)");
  if (m->tag != kProbe || m->source != from)
    fail("rank ", t.rank(), ": unexpected message (tag ", m->tag, " from rank ", m->source,
         ") while timing the ring's links");
  return std::move(*m);
}

}  // namespace

double measure_ring_latency(comm::Transport& t, const RingLayout& l, size_t bytes, int rounds, double timeout_s) {
  if (l.stages < 2) return 0;
  const int stage = l.stage_of(t.rank()), p = l.pipeline_of(t.rank());
  const int next = l.rank_of(p, (stage + 1) % l.stages), prev = l.rank_of(p, (stage + l.stages - 1) % l.stages);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < rounds; ++r) {
    if (stage == 0) {
      const double t0 = now_s();
      t.send(next, kProbe, comm::Bytes(bytes));
      receive_probe(t, prev, timeout_s);
      best = std::min(best, now_s() - t0);
    } else {
      t.send(next, kProbe, receive_probe(t, prev, timeout_s).bytes);
    }
  }
  return stage == 0 ? best : 0;
}

}  // namespace farm::pipeline
