// farm bench: times a model's parts on this machine's backend and dtype —
// text encoder, UNet step at several batch sizes (per block too), VAE
// decode — with GFLOP/s from the cost model's FLOP counts, a per-op profile
// and peak memory; a table on stdout, JSON with --json.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace farm::launcher {

std::function<int()> add_bench_command(CLI::App& app);

}  // namespace farm::launcher
