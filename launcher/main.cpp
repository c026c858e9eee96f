// farm: the command. Subcommands live one per file.
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "farm/core/error.h"
#include "kernels/cpu/runtime_env.h"
#include "launcher/archive_command.h"
#include "launcher/bench_command.h"
#include "launcher/plan_command.h"
#include "launcher/render_command.h"
#include "launcher/selftest_command.h"

namespace {

// True in every rank but the first of an mpirun/srun job (read before MPI is
// up), so a line every rank would print is printed once.
bool later_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* r = std::getenv(v); r && std::strcmp(r, "0") != 0) return true;
  return false;
}

// --help, --version or no command: the settings below do not matter to the
// reader, so their lines would be noise.
bool only_asking(int argc, char** argv) {
  if (argc < 2) return true;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "--version"))
      return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Activations up to 32 MB (glibc's cap) come from the heap, and 32 MB of
  // freed heap is kept: a UNet step allocates and frees the same sizes again
  // and again, and fresh mmap pages cost a fault and a clear each (7 % of a
  // bf16 SD 1.5 step). A fixed threshold also stops glibc from raising it.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  // OpenBLAS and libgomp read their settings only when the process loads.
  farm::kernels::cpu::reexec_with_recommended_env("farm", argv, later_rank() || only_asking(argc, argv));
  CLI::App app{"farm: a render farm for latent-diffusion text-to-image models"};
  app.set_version_flag("--version", "farm " FARM_VERSION);
  app.require_subcommand(1);
  auto render = farm::launcher::add_render_command(app);
  auto plan = farm::launcher::add_plan_command(app);
  auto archive = farm::launcher::add_archive_command(app);
  auto bench = farm::launcher::add_bench_command(app);
  auto selftest = farm::launcher::add_selftest_command(app, &argc, &argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (app.got_subcommand("render")) return render();
    if (app.got_subcommand("plan")) return plan();
    if (app.got_subcommand("archive")) return archive();
    if (app.got_subcommand("bench")) return bench();
    if (app.got_subcommand("selftest")) return selftest();
  } catch (const farm::Error& e) {
    std::fprintf(stderr, "farm: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "farm: fatal: %s\n", e.what());
    return 1;
  }
  return 0;
}
