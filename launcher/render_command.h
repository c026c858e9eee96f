// `farm render`: a prompt file through one model into PNG files.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace farm::launcher {

// Adds the subcommand; the returned function runs it (exit code).
std::function<int()> add_render_command(CLI::App& app);

}  // namespace farm::launcher
