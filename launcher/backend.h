// --backend NAME -> the op table; a clear error when this build or this
// node cannot run it.
#pragma once

#include <string>

#include "kernels/ops.h"

namespace farm::launcher {

const kernels::Ops* select_backend(const std::string& name);

// Gives each of `ranks_on_node` ranks sharing this node an even share of its
// cores as OpenMP threads (at least one), unless OMP_NUM_THREADS is set.
// `farm render` applies it per node; `farm plan --calibrate` with --ranks, so
// the block times it measures are those of a rank of that render. Returns
// the thread count now in force.
int share_cores_among_ranks(int ranks_on_node);

}  // namespace farm::launcher
