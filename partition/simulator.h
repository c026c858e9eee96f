// Discrete-event simulation of one pipeline's ring under the policy farm
// render's MPI ring uses, to predict throughput and bubbles of a plan:
//  - each stage rank processes one message at a time from a FIFO inbox
//    (arrival order);
//  - stage 0, when free: processes the oldest returned state if one is
//    waiting; else admits a new micro-batch (text encode, then its blocks for
//    step 0) if fewer than `window` are in flight and any remain; else idles.
//    In flight: admitted, final step not yet past stage 0;
//  - a stage's work for one micro-batch step is its blocks' time (+ the text
//    encoder on admission at stage 0); the last stage decodes a finished
//    micro-batch in vae_parts equal parts, ceil(parts / steps) of them after
//    each UNet pass and more whenever it would otherwise idle; then it sends to the next stage (the last stage to stage 0
//    for the next step, unless that was the final step): arrival = finish +
//    send_s; without overlapped transfers the sender is busy for send_s too.
//    On admission stage 0 first sends the micro-batch's batch messages
//    (send_once_s, the context) on the same link: arrival and, without
//    overlap, its busy time grow by send_once_s. A stage's skips messages to
//    later stages are in its send_s; they are taken to reach their receivers
//    before the hidden state that needs them (it passes every stage between).
#pragma once

#include <vector>

#include "partition/partitioner.h"

namespace farm::partition {

struct SimOptions {
  int micro_batches = 64;  // whole job, all pipelines; pipeline p gets M/P (+1 for the first M % P)
  int window = 0;          // 0: the plan's window
};

struct SimResult {
  double makespan_s = 0, images_per_s = 0;
  std::vector<double> busy;         // per stage, busy time / makespan (pipeline 0)
  std::vector<double> busy_steady;  // per stage, busy fraction in the steady-state window
  double bubble = 0;                // 1 - mean busy over stages, in the steady-state window
  double bubble_overall = 0;        // same over the whole makespan (fill and drain included)
  // Steady-state window: first micro-batch completed .. last micro-batch
  // admitted (the whole makespan when that is empty).
  double steady_begin_s = 0, steady_end_s = 0;
  std::vector<double> completed_s;  // pipeline 0's completion times, in completion order
};

SimResult simulate(const Plan& p, const SimOptions& o);

}  // namespace farm::partition
