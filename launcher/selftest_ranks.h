// The multi-rank half of `farm selftest`: MPI start-up when the command was
// launched by mpirun/srun, and the NCCL send/recv check between ranks.
// Built with MPI and NCCL when both were found (FARM_SELFTEST_NCCL); else
// one rank, and the NCCL check says why it was skipped.
#pragma once

#include <string>

namespace farm::launcher {

struct RankInfo {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // ranks on this node
  bool mpi = false;                    // MPI_Init was called
  std::string host;
};

// MPI_Init only when a launcher's environment says we are one of several
// ranks (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK ...): a plain run never
// touches MPI.
RankInfo start_ranks(int* argc, char*** argv);
// True when `ok` holds on every rank.
bool all_ranks_ok(const RankInfo& r, bool ok);
void finish_ranks(const RankInfo& r);

struct NcclCheck {
  bool ran = false;  // false: skipped, `report` says why
  bool ok = true;
  std::string report;  // rank 0: one line per rank; others: empty
};

// Each rank sends `bytes` to rank+1 and receives from rank-1 (a ring, so
// every pair of neighbours is checked in both roles), compares every byte
// with the pattern the sender wrote, then times `iterations` exchanges.
NcclCheck check_nccl_send_recv(const RankInfo& r, size_t bytes, int iterations);

}  // namespace farm::launcher
