// The end of a job on rank 0: the summary lines (per rank: busy, UNet time per
// pass, bytes sent, weights) and report.json in the output folder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "farm/coord/coordinator.h"
#include "farm/pipeline/ring_messages.h"

namespace farm::launcher {

void print_summary(const std::vector<nlohmann::json>& ranks, double secs, size_t images);

// report.json: the job (model, job seed, run, counts, exit code), throughput,
// per-stage busy and bubble fractions, bytes sent, failures, wall time.
nlohmann::json job_report(const Coordinator& c, const pipeline::RingLayout& l, const std::vector<nlohmann::json>& ranks,
                          double render_s, double wall_s, int exit_code);

}  // namespace farm::launcher
