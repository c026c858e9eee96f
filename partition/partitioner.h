// Pipelines × stages for a model on a device: each stage a contiguous range
// of the block list, chosen to minimise the slowest stage under a memory cap.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "partition/cost_model.h"
#include "partition/stage_traffic.h"

namespace farm::partition {

struct StagePlan {
  size_t begin = 0, end = 0;               // UNet blocks [begin, end)
  bool text_encoder = false, vae = false;  // stage 0 encodes text; the last stage decodes
  double block_s = 0;     // per micro-batch step, its blocks only
  double text_s = 0;      // per micro-batch, once on admission (stage 0)
  double vae_s = 0;       // per micro-batch, once after the last step (last stage)
  double compute_s = 0;   // per micro-batch step: block_s + (text_s + vae_s) / steps
  // What it sends (stage_traffic.h; tensor payload bytes, headers not counted):
  double send_bytes = 0;       // per micro-batch step that sends: hidden (return on the last stage) + its skips
  double send_bytes_once = 0;  // per micro-batch, at admission: stage 0's context batch messages
  int send_messages = 0, send_messages_once = 0;  // per step; per micro-batch
  std::vector<SendFlow> send_to;                  // the same bytes by receiving stage
  double recv_bytes = 0, recv_bytes_once = 0;     // what arrives per step; per micro-batch (the context)
  // Link time: one latency per message + bytes / bandwidth (0 when S == 1).
  double send_s = 0;       // per step that sends
  double send_once_s = 0;  // per micro-batch (stage 0)
  // A state's time in flight to the next stage beyond send_s: link latency
  // the sender does not spend (it is free again once the bytes are handed
  // over). 0 in plans; the throughput benchmark sets it from the latency a
  // run measured between hosts.
  double hop_s = 0;
  // What the partitioner balances: compute + link time per step (send_s +
  // send_once_s / steps), or their max when sends overlap compute.
  double time_s = 0;
  // memory_bytes = weight_bytes (its blocks + text encoder / VAE by role) +
  // activation_bytes: max over its blocks, text encoder and VAE of peak
  // working memory + window × recv_bytes (the states queued for it) +
  // window × the context when its blocks read it (every micro-batch in flight).
  double weight_bytes = 0, activation_bytes = 0, memory_bytes = 0;
  double busy = 0;  // predicted steady-state busy fraction (simulator)
};

struct Plan {
  std::string model, device;
  int pipelines = 1, stages = 1;
  int window = 1;     // micro-batches in flight per pipeline
  size_t blocks = 0;  // the model's block count
  bool overlap_transfers = false;
  int vae_parts = 1;  // the decode runs in this many (equal, as simulated) parts between UNet passes
  Workload workload;
  std::vector<StagePlan> stage;
  double step_s = 0;        // slowest stage time per micro-batch step (the ring's period per micro-batch-step)
  double images_per_s = 0;  // predicted, all pipelines (simulator, long job)
  double bubble = 0;        // predicted steady-state bubble fraction

  nlohmann::json to_json() const;
  // Validates: ranges contiguous, cover [0, blocks), non-empty; errors name
  // `source` and the field.
  static Plan from_json(const nlohmann::json& j, const std::string& source);
};

struct PlanOptions {
  double memory_cap_bytes = 0;  // 0: the device profile's
  int window = 0;               // micro-batches in flight per pipeline; 0: S + 1 (S = 1: 1)
  int sim_micro_batches_per_pipeline = 64;  // the "long job" images_per_s is predicted on
};

int resolve_window(int window, int stages);

// Stage `index` of the split whose stages end at `ends`, costed exactly.
StagePlan stage_cost(const ModelCosts& c, const std::vector<size_t>& ends, int index, int window);
// The stage [begin, end) at position `index` of `stages`, costed from its own
// range with stage_traffic_bound's upper bounds for the figures that depend
// on the other cuts: what the partitioner's search balances.
StagePlan stage_cost_bound(const ModelCosts& c, size_t begin, size_t end, int index, int stages, int window);

// Dynamic programming over contiguous ranges: minimises the slowest stage's
// time_s as stage_cost_bound gives it, subject to memory_bytes <= cap for
// every stage (memory is exact: it depends on the stage's own range only).
// Among optimal splits it returns the one whose cuts come earliest
// (lexicographically smallest list of stage ends); its stages are then costed
// exactly (stage_cost), so step_s is at most the optimum of the bound — a
// split the bound ranks second could beat it by a few link latencies and
// stage 0's context, amortised over the steps. Infeasible cap: farm::Error
// naming the cap and the least memory any split needs.
Plan partition(const ModelCosts& c, int pipelines, int stages, const PlanOptions& o = {});

// Every P × S = ranks factorisation (S <= blocks) that fits the memory cap,
// best predicted images/s first (ties: fewer stages first).
std::vector<Plan> plans_for_ranks(const ModelCosts& c, int ranks, const PlanOptions& o = {});

}  // namespace farm::partition
