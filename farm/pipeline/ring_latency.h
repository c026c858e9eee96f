// How long a state takes to go once around a pipeline's ring with nothing
// else running: measured at start-up, so stage 0 can keep enough
// micro-batches in flight to cover the links' latency (RingStage::window).
// On one node this is tens of microseconds; between hosts a round trip of
// milliseconds per hop, and over TCP a message above the eager limit
// (64 KiB) pays its handshake too — the probe is that size, so it does.
#pragma once

#include <cstddef>

#include "farm/comm/transport.h"
#include "farm/pipeline/ring_messages.h"

namespace farm::pipeline {

// A collective over every rank: stage 0 of each pipeline sends `bytes`
// around its ring `rounds` times. Returns the shortest round, in seconds,
// on stage 0 ranks; 0 elsewhere and when there is one stage. Fails naming
// the rank that does not answer within `timeout_s`.
double measure_ring_latency(comm::Transport& t, const RingLayout& l, size_t bytes = 256 * 1024, int rounds = 5,
                            double timeout_s = 60);

}  // namespace farm::pipeline
