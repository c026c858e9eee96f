// farm archive OUT_DIR FILE.h5: the HDF5 archive of a finished (or stopped)
// job, built from its output folder's journal and PNGs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace farm::launcher {

std::function<int()> add_archive_command(CLI::App& app);

}  // namespace farm::launcher
