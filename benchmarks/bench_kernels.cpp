// Times every kernel case on ref and cpu (SD 1.5 shapes on cpu only), with
// GFLOP/s for the GEMM-shaped ops and GB/s (bytes read + written) for the
// memory-bound ones. Each result is checked once before it is timed: small
// cases against ref, SD 1.5 cases by spot checks in double (conv, linear,
// attention) or against ref (the cheap memory-bound ops).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "benchmarks/spot_check.h"
#include "kernels/cpu/runtime_env.h"
#include "kernels/check/error_stats.h"
#include "kernels/check/kernel_cases.h"

namespace farm::kernels::bench {
namespace {

using testing::KernelCase;

std::vector<float> run(const Ops& ops, const KernelCase& c,
                       const std::vector<std::vector<float>>& inputs) {
  std::vector<const float*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(t.data());
  std::vector<float> y(static_cast<size_t>(testing::output_per_sample(c) * c.batch), 0.0f);
  testing::run_case(ops, c, c.batch, ptrs, y.data());
  return y;
}

// "" when the backend's result for the case is right, else why not. Cached:
// the benchmark function runs several times while it sizes the iterations.
const std::string& verify(const Ops& ops, const KernelCase& c,
                          const std::vector<std::vector<float>>& inputs) {
  static std::map<std::string, std::string> verdicts;
  const std::string key = std::string(ops.name) + "/" + c.name;
  if (auto it = verdicts.find(key); it != verdicts.end()) return it->second;
  std::string verdict;
  if (&ops != &ref_ops()) {  // ref is the oracle, checked against torch by the tests
    const auto got = run(ops, c, inputs);
    testing::ErrorStats e;
    if (c.sd15 && has_spot_check(c)) {
      e = spot_check(c, inputs, got, 64);
    } else {
      const auto want = run(ref_ops(), c, inputs);
      e = testing::compare(got.data(), want.data(), static_cast<int64_t>(got.size()), c.vs_ref);
    }
    if (e.failures) verdict = "wrong result: " + testing::describe(e, c.vs_ref);
  }
  return verdicts.emplace(key, verdict).first->second;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void bench_case(benchmark::State& state, const Ops* ops, const KernelCase* c) {
  const auto inputs = testing::random_inputs(*c, c->batch, std::hash<std::string>{}(c->name));
  if (const std::string& why = verify(*ops, *c, inputs); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::vector<const float*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(t.data());
  std::vector<float> y(static_cast<size_t>(testing::output_per_sample(*c) * c->batch), 0.0f);
  testing::run_case(*ops, *c, c->batch, ptrs, y.data());  // warm-up: scratch buffers, threads
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    testing::run_case(*ops, *c, c->batch, ptrs, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  // CPU seconds of all threads: on a shared machine, work per CPU-second
  // shows the kernel's efficiency apart from the share of cores it got.
  const double cpu_seconds = process_cpu_seconds() - cpu_start;
  const double iterations = static_cast<double>(state.iterations());
  const double flops = testing::flops(*c, c->batch);
  if (flops > 0.0) {
    state.counters["GFLOP"] =
        benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOP_per_cpu_s"] = flops * iterations / 1e9 / cpu_seconds;
  } else {
    state.counters["GB"] = benchmark::Counter(testing::bytes_moved(*c, c->batch) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  }
  state.SetLabel(testing::op_name(c->op));
}

void register_all() {
  for (const Ops* ops : {&ref_ops(), &cpu_ops()}) {
    for (const KernelCase& c : testing::kernel_cases()) {
      if (c.sd15 && ops == &ref_ops()) continue;  // minutes per call
      benchmark::RegisterBenchmark((std::string(ops->name) + "/" + c.name).c_str(), bench_case, ops,
                                   &c)
          ->UseRealTime()  // the ops are multithreaded: wall time is what counts
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace farm::kernels::bench

int main(int argc, char** argv) {
  // OpenBLAS and libgomp read their settings only at load: run again with the
  // ones the cpu backend wants (kernels/cpu/runtime_env.h).
  farm::kernels::cpu::reexec_with_recommended_env("bench_kernels", argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", farm::kernels::cpu::blas_core_name());
  if (const char* policy = std::getenv("OMP_WAIT_POLICY"))
    benchmark::AddCustomContext("omp_wait_policy", policy);
  farm::kernels::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
