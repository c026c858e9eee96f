// A job's traces on one timeline (`farm render --stats`, `--trace`). Every
// rank stamps its busy intervals and state messages with its own steady
// clock (pipeline::RingStats); rank 0 shifts them onto its clock by the
// offsets it measured at start-up (comm/clock_sync.h) and writes them as one
// Chrome trace: the Trace Event Format that ui.perfetto.dev and
// chrome://tracing open.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "farm/comm/clock_sync.h"
#include "farm/pipeline/ring.h"

namespace farm::launcher {

// A rank's trace records for its statistics, in seconds on its trace clock
// (comm::trace_clock_s): "busy" [[begin, end], ...] with "busy_what"
// [{"what", "id", "step"}, ...] beside it, "admissions", "completions",
// "sends" and "receives" [{"t", "peer", "bytes", "id", "step", "part"}, ...],
// and "loop" [begin, end]: its event loop, given in steady-clock seconds
// (rank 0's loop is the job's span).
nlohmann::json rank_trace_json(const pipeline::RingStats& s, int rank, double loop_begin_s, double loop_end_s);

// Rank 0, with every rank's statistics (index = rank): moves each rank's
// records onto rank 0's clock (less its offset) and adds "clock_offset_s" and
// "clock_error_s" (the offset's bound).
void align_rank_traces(std::vector<nlohmann::json>& ranks, const std::vector<comm::ClockOffset>& clocks);

// The job as one trace, from aligned statistics. A process per host (pid:
// 1, 2, ... in rank order) and a thread per rank (tid: rank + 1; viewers
// treat pid and tid 0 as the kernel's idle task), named "rank R (host H)
// pipeline P stage S" with the rank's clock offset and bound; a complete
// event per busy interval, named by its work; per state message an instant
// at its send and at its receipt, joined by a flow arrow; a "job" process
// holding rank 0's event loop. Times are microseconds from the job's start
// on rank 0's clock.
nlohmann::json chrome_trace(const std::vector<nlohmann::json>& ranks);

// Writes chrome_trace(ranks) to `path`; a failure is reported on stderr and
// returns false (the job's images are not at stake).
bool write_chrome_trace(const std::string& path, const std::vector<nlohmann::json>& ranks);

}  // namespace farm::launcher
