// SDXL base -> refiner in one ring (ARCHITECTURE.md, "Chained models"): both
// models' block lists placed on the same P x S stages. Shared (R = 0): each
// model partitioned over all S stages, so every stage works in both phases.
// Apart (R > 0): the base over the first S - R stages, the refiner over the
// last R; a stage with no blocks of a model passes that model's steps on.
// A stage's time per micro-batch is its base stage time for the base's steps
// plus its refiner stage time for the refiner's (and text / VAE by role); the
// slowest stage bounds the pipeline (the ring keeps enough micro-batches in
// flight to overlap the phases).
#pragma once

#include <utility>
#include <vector>

#include "partition/partitioner.h"

namespace farm::partition {

struct RefinerPlan {
  int refiner_stages = 0;  // R; 0: shared
  int base_steps = 0, refiner_steps = 0;
  Plan base, refiner;  // each model's own plan over its stages
  std::vector<std::pair<size_t, size_t>> base_ranges, refiner_ranges;  // per ring stage; empty where it holds none
  std::vector<double> stage_memory_bytes, stage_s;  // per ring stage: both models' memory; time per micro-batch
  double images_per_s = 0;                          // P / the slowest stage's time per micro-batch
};

// base_steps + refiner_steps: the job's steps split at its switch (the
// schedule decides exactly; round(switch · steps) is what plans assume).
RefinerPlan place_with_refiner(const ModelCosts& base, const ModelCosts& refiner, int pipelines, int stages,
                               int refiner_stages, int base_steps, int refiner_steps, const PlanOptions& o = {});

}  // namespace farm::partition
