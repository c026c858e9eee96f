// One rank's part of `farm render`: load its share of the model, run the
// event loop (its ring stage; on rank 0 also the coordinator), and report.
// The same code runs one rank without MPI and N ranks under mpirun/srun.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/coord/archive.h"
#include "farm/coord/coordinator.h"
#include "farm/coord/job_setup.h"
#include "farm/pipeline/ring_messages.h"

namespace farm::launcher {

struct RankJob {
  std::string model_dir, backend, dtype, out_dir, stats_file;
  std::string refiner_dir;  // --refiner: the SDXL refiner (folder), placed by layout.refiner_ranges
  std::string trace_file;  // --trace: rank 0 writes the job's Chrome trace there (every rank traces)
  // --transport: "nccl" stage tensors GPU to GPU over the backend's link
  // (MPI carries control only), "mpi" everything through the host, "auto"
  // nccl when the backend has a link.
  std::string tensors = "auto";
  bool random_weights = false;  // --random-weights: benchmarks on config-only folders
  // --weights: "shared" the lowest rank of each stage group reads the
  // stage's weights and the others receive them (farm/io/weight_share.h);
  // "each" every rank reads its own; "auto" shared when a stage's ranks
  // span hosts.
  std::string weights = "auto";
  pipeline::RingLayout layout;
  std::vector<std::pair<std::string, std::string>> loras;  // (name, file) of every LoRA the job uses
  double stall_timeout_s = 600;  // every rank: its watchdog, and its heartbeat's pace
  // Rank 0 only: the prepared job and how the coordinator runs it.
  std::shared_ptr<PreparedJob> prepared;
  CoordinatorOptions coord;
  std::shared_ptr<Archive> archive;  // --archive: brought in line with the journal, extended as images land
};

// "farm: error: MSG" on stderr, flushed: what main() prints for a farm::Error.
void print_error(const std::string& msg);

// Every rank calls this after rank 0 has validated the job and chosen the
// layout; returns the job's exit code (the same on every rank).
int run_rank(comm::Transport& t, const RankJob& job);

}  // namespace farm::launcher
