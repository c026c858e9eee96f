// farm: the command. Subcommands live one per file.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "farm/core/error.h"
#include "kernels/cpu/runtime_env.h"
#include "launcher/plan_command.h"
#include "launcher/render_command.h"
#include "launcher/selftest_command.h"

int main(int argc, char** argv) {
  // OpenBLAS and libgomp read their settings only when the process loads.
  farm::kernels::cpu::reexec_with_recommended_env("farm", argv);
  CLI::App app{"farm: a render farm for latent-diffusion text-to-image models"};
  app.require_subcommand(1);
  auto render = farm::launcher::add_render_command(app);
  auto plan = farm::launcher::add_plan_command(app);
  auto selftest = farm::launcher::add_selftest_command(app, &argc, &argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (app.got_subcommand("render")) return render();
    if (app.got_subcommand("plan")) return plan();
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
