// farm plan: the partitioner's choice of pipelines × stages for a model, a
// latent size and a device profile, with per-stage costs and predictions.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace farm::launcher {

std::function<int()> add_plan_command(CLI::App& app);

}  // namespace farm::launcher
