// Which blocks each rank of a distributed render runs: from a plan file
// (`farm plan --json`), from --stages/--pipelines (the partitioner splits the
// block list for that shape), or by default the partitioner's best P × S for
// the rank count. Decided on rank 0 and sent to the others.
#pragma once

#include <string>

#include "farm/coord/job.h"
#include "farm/pipeline/ring_messages.h"

namespace farm::launcher {

struct LayoutRequest {
  int ranks = 1;
  int stages = 0, pipelines = 0, window = 0;  // 0: not given
  std::string plan_file, device;               // device profile for the partitioner
  int batch = 1;
  // The job's SDXL refiner ("" none) and --refiner-stages (0: the refiner
  // spread over every stage, as the base; R: the base on the first S - R
  // stages, the refiner on the last R).
  std::string refiner_dir;
  int refiner_stages = 0;
};

// `first` gives the workload the partitioner costs (size, steps, guidance).
// Prints the chosen layout on stderr.
pipeline::RingLayout choose_layout(const std::string& model_dir, const LayoutRequest& req, const JobItem& first);

}  // namespace farm::launcher
