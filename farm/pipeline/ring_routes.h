// Where each part of a micro-batch's state goes between the stages of a
// pipeline, worked out once from the UNet's block list and the layout, so a
// stage sends each tensor straight to the stage that uses it:
//  - the hidden state (with the timesteps and time embedding) to the next stage;
//  - each skip tensor from the stage whose block pushes it to the stage whose
//    block pops it, once (a skip pushed and popped in one stage stays there);
//    the middle stages never relay it;
//  - the text context once per micro-batch, from stage 0 to every stage that
//    reads it (cross-attention), kept there until the micro-batch's last step;
//  - the next step's latent from the last stage back to stage 0.
// The partitioner's cost model (partition/cost_model.cpp) counts these same
// bytes; `farm render --stats` reports what was sent.
#pragma once

#include <vector>

#include "farm/model/unet.h"
#include "farm/pipeline/ring_messages.h"
#include "kernels/tensor_link.h"

namespace farm::pipeline {

struct SkipRoute {
  size_t push_block = 0, pop_block = 0;
  int from = 0, to = 0;  // stages
};

class RingRoutes {
 public:
  RingRoutes(const std::vector<model::UNetBlockDesc>& blocks, const RingLayout& layout);

  // Skip tensors in push order (the k-th push of a pass is skips()[k]).
  const std::vector<SkipRoute>& skips() const { return skips_; }
  // Skips a stage receives (pushed by an earlier stage, popped here) and
  // sends (pushed here, popped by a later stage), in push order.
  const std::vector<int>& incoming(int stage) const { return incoming_.at(static_cast<size_t>(stage)); }
  const std::vector<int>& outgoing(int stage) const { return outgoing_.at(static_cast<size_t>(stage)); }
  // Whether a stage's blocks read the text context.
  bool reads_context(int stage) const { return reads_context_.at(static_cast<size_t>(stage)); }
  // Whether stage 0 sends `stage` a batch message at admission: the context
  // if it reads it, the items if it is the last stage (sampler and PNGs).
  bool gets_batch(int stage) const;
  // Every directed rank pair that carries tensors, over all pipelines, in
  // one order on every rank (NCCL communicators are made per pair).
  std::vector<kernels::LinkEdge> link_edges() const;

 private:
  RingLayout layout_;
  std::vector<SkipRoute> skips_;
  std::vector<std::vector<int>> incoming_, outgoing_;
  std::vector<bool> reads_context_;
};

}  // namespace farm::pipeline
