// The stage groups of `farm render --weights shared` over MPI: MPI_COMM_WORLD
// split by stage, so the ranks holding the same stage share one read of its
// weights (farm/io/weight_share.h). On one node Open MPI moves the bytes
// through shared memory.
#pragma once

#include <memory>
#include <string>

#include "farm/io/weight_share.h"

namespace farm::comm {

// Collective over MPI_COMM_WORLD: every rank calls it, with its stage. The
// group's lowest rank reads; `host` names this rank in messages. Needs MPI
// initialised (an MpiTransport made first).
std::unique_ptr<WeightShare> make_mpi_weight_share(int stage, const std::string& host);

}  // namespace farm::comm
