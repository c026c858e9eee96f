#include "launcher/selftest_command.h"

#include <cstdio>
#include <memory>
#include <string>

#if FARM_SELFTEST_CUDA
#include <cuda_runtime_api.h>

#include "kernels/cuda/autotune.h"
#include "kernels/cuda/cuda_check.h"
#include "launcher/selftest_kernels.h"
#include "launcher/selftest_ranks.h"
#include "launcher/selftest_render.h"
#include "kernels/check/device_case.h"
#endif

namespace farm::launcher {
namespace {

struct SelftestArgs {
  bool fast = false, quick = false;
  std::string dtype = "both", filter, model;
  int warmup = 5, iterations = 20;
  double nccl_mib = 64;
};

int no_device(const std::string& why) {
  std::fprintf(stderr, "farm selftest: no CUDA device found (%s); nothing to test\n", why.c_str());
  return kSelftestNoDevice;
}

#if FARM_SELFTEST_CUDA

int run_selftest(const SelftestArgs& a, int* argc, char*** argv) {
  if (const std::string why = kernels::testing::cuda_device_problem(); !why.empty()) return no_device(why);
  const RankInfo ranks = start_ranks(argc, argv);
  int devices = 0;
  FARM_CHECK_CUDA(cudaGetDeviceCount(&devices));
  FARM_CHECK_CUDA(cudaSetDevice(ranks.local_rank % devices));
  const bool lead = ranks.rank == 0;

  KernelSelftestOptions opt;
  if (a.dtype == "f16") opt.dtypes = {kernels::cuda::DType::f16};
  if (a.dtype == "bf16") opt.dtypes = {kernels::cuda::DType::bf16};
  opt.quick = a.quick, opt.filter = a.filter, opt.warmup = a.warmup, opt.iterations = a.iterations;
  opt.fast = a.fast, opt.print = lead;
  if (lead) {
    std::printf("farm selftest: %s\n", describe_device().c_str());
    std::printf("farm selftest: %d rank(s); timings: %d warm-up + mean of %d launches (cudaEvent)\n", ranks.size,
                a.warmup, a.iterations);
    std::printf(a.fast ? "mode: FAST (--fast): cuDNN allowed where faster; batch invariance is NOT guaranteed\n"
                       : "mode: batch-invariant (default): hand-written kernels; cuDNN is checked and timed only\n");
  }
  const KernelSelftestResult k = run_kernel_selftest(opt);

  kernels::cuda::AutotuneOptions tune;
  tune.allow_cudnn = a.fast;
  if (lead && !k.conv_choices.empty())
    std::printf("\n%s", kernels::cuda::format_autotune_table(k.conv_choices, tune).c_str());
  if (!lead && k.failures)
    std::printf("rank %d (%s): %d of %d kernel checks FAILED\n", ranks.rank, ranks.host.c_str(), k.failures,
                k.checks);

  const NcclCheck nccl =
      check_nccl_send_recv(ranks, static_cast<size_t>(a.nccl_mib * 1024 * 1024), a.iterations);
  if (lead) std::printf("\n%s%s", nccl.report.c_str(), nccl.report.empty() || nccl.report.back() == '\n' ? "" : "\n");

  // A whole render on the device-resident backend, each dtype, against the CPU.
  bool render_ok = true;
  for (const auto dt : opt.dtypes) {
    const RenderSelftest rs = run_render_selftest(a.model, dt, ranks.local_rank, ranks.local_size, ranks.host);
    render_ok = render_ok && rs.ok;
    if (lead || !rs.ok) std::printf("%s%s", lead ? (dt == opt.dtypes.front() ? "\n" : "") : "", rs.report.c_str());
  }

  const bool ok = all_ranks_ok(ranks, k.failures == 0 && nccl.ok && render_ok);
  if (lead)
    std::printf("\nfarm selftest: %s (rank 0: %d of %d kernel checks passed%s)\n", ok ? "PASSED" : "FAILED",
                k.checks - k.failures, k.checks, ranks.size > 1 ? "; every rank checked its own GPU" : "");
  std::fflush(stdout);
  finish_ranks(ranks);
  return ok ? 0 : 1;
}

#else

int run_selftest(const SelftestArgs&, int*, char***) {
  return no_device("this build has no CUDA backend: configured with FARM_CUDA=OFF");
}

#endif

}  // namespace

std::function<int()> add_selftest_command(CLI::App& app, int* argc, char*** argv) {
  auto args = std::make_shared<SelftestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "selftest", "Check every CUDA kernel on this node's GPU against the reference (and cuDNN/cuBLAS) over the "
                  "SD shapes, with timings; a small render on the device vs the CPU; NCCL send/recv between ranks under "
                  "mpirun. Exit 0 ok, 1 mismatch, "
                  "3 no GPU.");
  cmd->add_flag("--fast", args->fast,
                "allow cuDNN where it is faster (gives up batch invariance: images may depend on batch size)");
  cmd->add_flag("--quick", args->quick, "only the small test cases, not the full-size SD shapes");
  cmd->add_option("--dtype", args->dtype, "f16, bf16 or both")->check(CLI::IsMember({"f16", "bf16", "both"}));
  cmd->add_option("--filter", args->filter, "only cases whose name contains this");
  cmd->add_option("--model", args->model,
                  "model folder for the render check (default: the shipped models/tiny-shapes)");
  cmd->add_option("--warmup", args->warmup, "untimed launches before timing")->check(CLI::Range(0, 1000));
  cmd->add_option("--iters", args->iterations, "timed launches (mean)")->check(CLI::Range(1, 100000));
  cmd->add_option("--nccl-mib", args->nccl_mib, "MiB each rank sends in the NCCL check")
      ->check(CLI::Range(0.001, 16384.0));
  return [args, argc, argv] { return run_selftest(*args, argc, argv); };
}

}  // namespace farm::launcher
