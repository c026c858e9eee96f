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
#include "kernels/backend.h"
#include "kernels/tensor_link.h"

namespace farm::pipeline {

enum RingTag : int {
  kRequest = 1,   // stage 0 -> coordinator: send me a micro-batch
  kAssign = 2,    // coordinator -> stage 0: a micro-batch, or {"none": true}
  kState = 3,     // stage -> next stage (the last stage -> stage 0 between steps)
  kDone = 4,      // last stage -> coordinator: a finished micro-batch: per item its PNG or why it failed
  kFail = 5,      // any rank -> coordinator: {"rank", "host", "error"[, "signal"]}: the job must stop
  kShutdown = 6,  // coordinator -> every rank
  kProgress = 7,  // any rank -> coordinator, every few seconds: a heartbeat with what it is doing
  kProbe = 8,     // start-up only: a token timed around each pipeline's ring (ring_latency.h)
};

// N = pipelines × stages ranks; rank r is stage r % S of pipeline r / S, so
// rank 0 (the coordinator) also computes: stage 0 of pipeline 0.
struct RingLayout {
  int pipelines = 1, stages = 1;
  std::vector<std::pair<size_t, size_t>> ranges;  // UNet blocks [begin, end) per stage
  // With an SDXL refiner: its UNet's blocks per stage. Both models are one
  // ring: a micro-batch's base steps run the base's ranges, its refiner steps
  // the refiner's. A range may be empty (base and refiner on different
  // stages); such a stage passes the state on. Empty: no refiner.
  std::vector<std::pair<size_t, size_t>> refiner_ranges;
  int window = 0;  // micro-batches in flight per pipeline; 0: S + 1 (1 when S = 1)
  bool window_fixed = false;  // --window: kept; else stage 0 may grow it over slow links (RingStage::window)
  // The partitioner's memory estimate per stage (weights + working memory +
  // queued states), checked against the device's free memory at start-up.
  std::vector<double> stage_memory_bytes;
  // The partitioner's longest unit of work on any stage (a UNet pass over a
  // stage's blocks, the text encoder, a VAE part), seconds; 0 when unknown.
  // The default stall timeout scales with it.
  double longest_unit_s = 0;

  int ranks() const { return pipelines * stages; }
  int pipeline_of(int rank) const { return rank / stages; }
  int stage_of(int rank) const { return rank % stages; }
  int rank_of(int pipeline, int stage) const { return pipeline * stages + stage; }
  int in_flight_limit() const { return window > 0 ? window : (stages == 1 ? 1 : stages + 1); }
  // Fails naming `source` unless the ranges are contiguous, non-empty and cover
  // [0, blocks) (with a refiner, empty ranges are allowed in either list;
  // refiner_blocks: the refiner's UNet's).
  void check(size_t blocks, const std::string& source, size_t refiner_blocks = 0) const;
  bool has_refiner() const { return !refiner_ranges.empty(); }
  // This layout with the refiner's ranges as its ranges (for RingRoutes).
  RingLayout refiner_layout() const;
};

// An item as the ring carries it: its index in the job (what the last stage
// reports back), the request, and the coordinator's record of the item
// (opaque here: a JSON object) which the image encoder turns into metadata.
struct RingItem {
  int64_t index = 0;
  Txt2ImgRequest request;
  nlohmann::json meta;
};

nlohmann::json to_json(const RingItem& it);
RingItem ring_item_from_json(const nlohmann::json& j);
// A LoRA set on the wire: [[name, weight], ...].
nlohmann::json loras_to_json(const model::LoraSet& set);
model::LoraSet loras_from_json(const nlohmann::json& j);

// A micro-batch between stages.
struct RingState {
  int64_t id = 0;
  int step = 0, steps = 0;
  bool refined = false;  // this step runs the refiner's blocks
  std::vector<RingItem> items;  // where the stage needs them (stage 0, the last stage)
  model::LoraSet loras;         // active while every stage runs its blocks (hidden parts carry it)
  model::UNetState unet;
};

// One message of a micro-batch's state (tag kState), see ring_routes.h:
//  hidden: h, timesteps, temb (if set) for stage s + 1, or the next step's
//          latent and timesteps for stage 0;
//  skips:  skip tensors (push order ids in `skip_ids`) for the stage that pops them;
//  batch:  at admission, from stage 0: the context (to a stage that reads it),
//          with a refiner its "context_r" likewise, the added conditioning
//          ("text_embeds", "time_ids", "_r" for the refiner's) to the stage
//          holding that model's first block when it is not stage 0, and the
//          items (to the last stage).
enum class PartKind { hidden, skips, batch };
const char* kind_name(PartKind k);  // "hidden", "skips", "batch": as the message header spells it

struct StatePart {
  PartKind kind = PartKind::hidden;
  int64_t id = 0;
  int step = 0, steps = 0;
  bool refined = false;  // hidden and skips parts: a refiner step
  std::vector<RingItem> items;
  std::vector<int> skip_ids;
  model::LoraSet loras;  // hidden parts: the micro-batch's LoRA set
  int64_t latent_h = 0, latent_w = 0;  // hidden parts past conv_in: UNetState's latent size
  std::vector<std::pair<std::string, Tensor>> tensors;  // named: h, timesteps, temb, context, skip
  const Tensor* find(const std::string& name) const;
};

// Sends a part: device tensors over `link` when there is one (GPU to GPU),
// everything else inline in the message as fp32 (device tensors copied to
// the host first). Returns the tensor payload bytes sent.
int64_t send_part(comm::Transport& t, kernels::TensorLink* link, kernels::Backend& be, int dest, StatePart p);
// The part a kState message announces; its link tensors are received (posted)
// from `link` now. A malformed message fails naming its source.
StatePart receive_part(const comm::Message& m, kernels::TensorLink* link);

}  // namespace farm::pipeline
