// What one stage of a split sends and receives in the ring's messages
// (cost_model.h, farm/pipeline/ring_routes.h), tensor payload bytes only:
//  - per micro-batch step: the "hidden" message to the next stage (the last
//    stage: the "return" message to stage 0) and one "skips" message to each
//    later stage that pops a skip tensor this stage pushed;
//  - per micro-batch (stage 0 only): a "batch" message to every later stage
//    that reads the text context (the context) and to the last stage (the
//    items' JSON, no tensor bytes, when it reads no context).
// With one stage nothing is sent.
#pragma once

#include <vector>

#include "partition/cost_model.h"

namespace farm::partition {

// Tensor bytes from one stage to another.
struct SendFlow {
  int stage = 0;           // the receiver
  double bytes = 0;        // per micro-batch step
  double bytes_once = 0;   // per micro-batch
};

struct StageTraffic {
  bool reads_context = false;
  double send_bytes = 0, send_bytes_once = 0;  // per step; per micro-batch
  int messages = 0, messages_once = 0;         // per step; per micro-batch
  double recv_bytes = 0, recv_bytes_once = 0;  // what arrives per step; per micro-batch (the context)
  std::vector<SendFlow> to;                    // by receiver, ascending; empty for a bound
};

// Exact, for stage `index` of the split whose stages end at `ends`
// (ends.back() == the block count).
StageTraffic stage_traffic(const ModelCosts& c, const std::vector<size_t>& ends, int index);

// What stage `index` of `stages` can know from its own range [begin, end)
// alone, for the partitioner's search: bytes per step and everything
// received are exact (they depend on no other cut); the figures that do
// depend on the other cuts are upper bounds: one skips message per block that
// pops one of its skips, at most one per later stage; stage 0's context to
// every later stage.
StageTraffic stage_traffic_bound(const ModelCosts& c, size_t begin, size_t end, int index, int stages);

}  // namespace farm::partition
