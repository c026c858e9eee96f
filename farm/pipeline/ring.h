// The ring schedule (ARCHITECTURE.md): one rank's part of a pipeline.
// Stage 0 admits micro-batches from the coordinator (text encoding, first
// model input), every stage runs its block range on the micro-batch state
// and sends each part of it straight to the stage that uses it
// (ring_routes.h; device tensors GPU to GPU when there is a link), and the last stage applies guidance and the sampler step,
// returning the next step's model input to stage 0 — or, after the final
// step, decodes, encodes the PNGs and sends only their bytes to the
// coordinator. The decode runs part by part, ceil(parts / steps) parts
// after each UNet pass (and whenever the stage would idle), so the ring sees
// the VAE as a steady extra per pass — what the partitioner budgets —
// instead of one long stall that starves every other stage. At most `in_flight_limit()` micro-batches circulate per
// pipeline; one that finishes frees its slot for the next admission at once.
//
// RingStageBase (ring_stage_base.h) holds what every model family's stage
// shares: assignments, the window, busy time, sends and the finished PNGs.
//
// With an SDXL refiner both models share the ring (RingLayout::refiner_ranges):
// a micro-batch's base steps run the base's block ranges, its refiner steps
// the refiner's, each with its own routes; stage 0 encodes both models'
// conditioning at admission, the last stage owns the one DenoiseLoop that
// switches sampler at the refiner's start and decodes with the refiner's VAE.
// A stage with an empty range in a phase passes that phase's state on.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/pipeline/denoise_loop.h"
#include "farm/pipeline/ring_messages.h"
#include "farm/pipeline/ring_routes.h"
#include "farm/pipeline/ring_stage_base.h"
#include "kernels/tensor_link.h"

namespace farm::pipeline {

class RingStage final : public RingStageBase {
 public:
  // With a `link` (NCCL), device tensors go GPU to GPU and only control
  // travels over `t`; without one, everything goes over `t` through the host.
  // `refiner`: loaded with the layout's refiner ranges, when it has them.
  RingStage(const SdModel& m, RingLayout layout, comm::Transport& t, ImageEncoder encode,
            kernels::TensorLink* link = nullptr, const SdModel* refiner = nullptr);

 private:
  struct Decode {
    RingState s;  // id and items; the tensors are gone
    const SdModel* decoder = nullptr;  // whose VAE (the refiner's after refiner steps)
    Tensor h;     // the VAE's running activation
    int next_part = 0;
    std::vector<std::string> errors;  // per item: why it failed ("" while it has not)
  };
  void admit(Admission a) override;
  bool decoding() const override { return !decodes_.empty(); }
  void decode_part() override;
  bool state_ready() const override { return !inbox_.empty(); }
  void run_next_state() override;
  void run_blocks(RingState s);
  void finish_step(RingState s);
  // What a stage keeps of a micro-batch between its steps: the context
  // (stages that read it), the items (stage 0, the last stage) and SDXL's
  // added conditioning (the stage whose time_embedding block reads it); the
  // refiner's likewise.
  struct Batch {
    int steps = 0;
    std::vector<RingItem> items;
    Tensor context, text_embeds, time_ids;
    Tensor context_r, text_embeds_r, time_ids_r;
  };
  void fill_from_batch(RingState& s, const Batch& b) const;
  const RingRoutes& routes(bool refined) const { return refined ? *routes_r_ : routes_; }
  const SdModel& model(bool refined) const { return refined ? *refiner_ : model_; }
  // Whether stage 0 sends `stage` a batch message at admission.
  bool gets_batch(int stage) const;
  // A step's state, gathered from the messages of several stages.
  struct Gathering {
    StatePart hidden;
    bool has_hidden = false;
    std::map<int, Tensor> skips;  // by push-order id
  };
  void take_part(StatePart p) override;
  void try_ready(int64_t id, int step);

  const SdModel& model_;
  RingRoutes routes_;
  const SdModel* refiner_ = nullptr;
  std::unique_ptr<RingRoutes> routes_r_;
  size_t begin_r_ = 0, end_r_ = 0;
  int added_stage_ = 0, added_stage_r_ = 0;  // the stages holding each model's block 0
  std::map<int64_t, Batch> batches_;
  std::map<std::pair<int64_t, int>, Gathering> gathering_;  // (id, step)
  std::deque<RingState> inbox_;  // ready to run, in the order they became ready
  std::map<int64_t, std::unique_ptr<DenoiseLoop>> loops_;  // last stage: sampler state per micro-batch
  std::deque<Decode> decodes_;                              // last stage: decodes under way, oldest first
};

}  // namespace farm::pipeline
