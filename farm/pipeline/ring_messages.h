// What travels between ranks in a distributed render: the message tags, the
// layout of pipelines and stages over ranks, and the micro-batch header.
// A state message is the header, then the UNetState tensors in a fixed order
// (hidden, timesteps, context, temb if set, skips bottom to top).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/model/unet.h"
#include "farm/pipeline/txt2img.h"

namespace farm::pipeline {

enum RingTag : int {
  kRequest = 1,   // stage 0 -> coordinator: send me a micro-batch
  kAssign = 2,    // coordinator -> stage 0: a micro-batch, or {"none": true}
  kState = 3,     // stage -> next stage (the last stage -> stage 0 between steps)
  kDone = 4,      // last stage -> coordinator: encoded images of a finished micro-batch
  kFail = 5,      // any rank -> coordinator: {"rank", "host", "error"}
  kShutdown = 6,  // coordinator -> every rank
};

// N = pipelines × stages ranks; rank r is stage r % S of pipeline r / S, so
// rank 0 (the coordinator) also computes: stage 0 of pipeline 0.
struct RingLayout {
  int pipelines = 1, stages = 1;
  std::vector<std::pair<size_t, size_t>> ranges;  // UNet blocks [begin, end) per stage
  int window = 0;  // micro-batches in flight per pipeline; 0: S + 1 (1 when S = 1)
  // The partitioner's memory estimate per stage (weights + working memory +
  // queued states), checked against the device's free memory at start-up.
  std::vector<double> stage_memory_bytes;

  int ranks() const { return pipelines * stages; }
  int pipeline_of(int rank) const { return rank / stages; }
  int stage_of(int rank) const { return rank % stages; }
  int rank_of(int pipeline, int stage) const { return pipeline * stages + stage; }
  int in_flight_limit() const { return window > 0 ? window : (stages == 1 ? 1 : stages + 1); }
  // Fails naming `source` unless the ranges are contiguous, non-empty and cover [0, blocks).
  void check(size_t blocks, const std::string& source) const;
};

// An item as the ring carries it: the request, and the coordinator's record
// of the item (opaque here) which the image encoder turns into metadata.
struct RingItem {
  Txt2ImgRequest request;
  std::string meta;
};

nlohmann::json to_json(const RingItem& it);
RingItem ring_item_from_json(const nlohmann::json& j);

// A micro-batch between stages.
struct RingState {
  int64_t id = 0;
  int step = 0, steps = 0;
  std::vector<RingItem> items;
  model::UNetState unet;
};

comm::Bytes encode_state(const RingState& s);
RingState decode_state(const comm::Bytes& b, int source);

}  // namespace farm::pipeline
