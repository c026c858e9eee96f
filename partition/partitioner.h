// Pipelines × stages for a model on a device: each stage a contiguous range
// of the block list, chosen to minimise the slowest stage under a memory cap.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "partition/cost_model.h"

namespace farm::partition {

struct StagePlan {
  size_t begin = 0, end = 0;               // UNet blocks [begin, end)
  bool text_encoder = false, vae = false;  // stage 0 encodes text; the last stage decodes
  double block_s = 0;     // per micro-batch step, its blocks only
  double text_s = 0;      // per micro-batch, once on admission (stage 0)
  double vae_s = 0;       // per micro-batch, once after the last step (last stage)
  double compute_s = 0;   // per micro-batch step: block_s + (text_s + vae_s) / steps
  double send_bytes = 0;  // per micro-batch step: cut_bytes[end] (the return edge for the last stage; 0 when S == 1)
  double send_s = 0;      // latency + send_bytes / link bandwidth (0 when S == 1)
  double time_s = 0;      // what the partitioner balances: compute + send, or max of them when sends overlap
  // memory_bytes = weight_bytes (its blocks + text encoder / VAE by role) +
  // activation_bytes (max over its blocks, text encoder and VAE of peak
  // working memory + window × cut_bytes[begin]: the states queued or in
  // flight at its input).
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

// The stage [begin, end) of `stages` at position `index`, costed.
StagePlan stage_cost(const ModelCosts& c, size_t begin, size_t end, int index, int stages, int window);

// Exact: dynamic programming over contiguous ranges. Minimises the slowest
// stage's time_s subject to memory_bytes <= cap for every stage. Among optimal
// splits it returns the one whose cuts come earliest (lexicographically
// smallest list of stage ends). Infeasible cap: farm::Error naming the cap and
// the least memory any split needs.
Plan partition(const ModelCosts& c, int pipelines, int stages, const PlanOptions& o = {});

// Every P × S = ranks factorisation (S <= blocks) that fits the memory cap,
// best predicted images/s first (ties: fewer stages first).
std::vector<Plan> plans_for_ranks(const ModelCosts& c, int ranks, const PlanOptions& o = {});

}  // namespace farm::partition
