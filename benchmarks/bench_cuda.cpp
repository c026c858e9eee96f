// Times the CUDA kernels on the device over the CUDA case list
// (tests/cuda/cuda_cases.cpp) and the full-size SD 1.5/2.x/XL shapes
// (tests/cuda/sd_cases.cpp), fp16 and bf16, conv2d also through cuDNN.
// Each result is checked once before it is timed, against the fp32 oracle
// (ref; cpu for full-size shapes) with the error rule of
// kernels/check/precision_bound.h; a wrong result is reported, not timed.
// Timing: manual time from a cudaEvent pair around each launch batch, after
// a warm-up launch. Counters: GFLOP/s for GEMM-shaped ops, GB/s (bytes read
// + written at the device element size) for the rest.
// Without a CUDA device it prints why and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kernels/cpu/runtime_env.h"
#include "kernels/cuda/autotune.h"
#include "kernels/cuda/conv2d_cudnn.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/check/cuda_cases.h"
#include "kernels/check/device_case.h"
#include "kernels/check/precision_bound.h"
#include "kernels/check/sd_cases.h"

namespace farm::kernels::bench {
namespace {

namespace kc = kernels::cuda;
using testing::KernelCase;
using testing::OpKind;

struct Variant {
  const KernelCase* c;
  kc::DType dtype;
  kc::ConvPath path;
};

// One device copy of a case's inputs, kept across the benchmark's repeated
// calls, and the verdict of its check ("" = right).
struct Prepared {
  std::unique_ptr<testing::DeviceCase> device;
  std::string verdict;
};

Prepared& prepare(const Variant& v) {
  static std::map<std::string, Prepared> cache;
  const std::string key = v.c->name + "/" + kc::dtype_name(v.dtype) + "/" + kc::conv_path_name(v.path);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  // One device copy at a time: full-size cases are hundreds of MiB.
  cache.clear();
  Prepared& p = cache[key];
  const auto inputs = testing::random_inputs(*v.c, v.c->batch, std::hash<std::string>{}(v.c->name));
  p.device = std::make_unique<testing::DeviceCase>(*v.c, v.dtype, inputs);
  p.verdict = p.device->launch(nullptr, v.path);
  if (!p.verdict.empty()) return p;
  const std::vector<float> got = p.device->download();
  const Ops& oracle = v.c->sd15 ? cpu_ops() : ref_ops();
  const auto ref = testing::reference_for(oracle, *v.c, v.dtype, inputs);
  const testing::PrecisionCheck check = testing::check_precision(got, ref.want, ref.baseline, v.dtype);
  if (!check.passes()) p.verdict = "wrong result: " + check.describe();
  return p;
}

void bench_variant(benchmark::State& state, Variant v) {
  Prepared& p = prepare(v);
  if (!p.verdict.empty()) {
    state.SkipWithError(p.verdict.c_str());
    return;
  }
  testing::DeviceCase& dc = *p.device;
  cudaEvent_t start = nullptr, stop = nullptr;
  FARM_CHECK_CUDA(cudaEventCreate(&start));
  FARM_CHECK_CUDA(cudaEventCreate(&stop));
  (void)dc.launch(nullptr, v.path);  // warm-up
  for (auto _ : state) {
    FARM_CHECK_CUDA(cudaEventRecord(start, nullptr));
    (void)dc.launch(nullptr, v.path);
    FARM_CHECK_CUDA(cudaEventRecord(stop, nullptr));
    FARM_CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    FARM_CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(static_cast<double>(ms) * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  const double flops = testing::flops(*v.c, v.c->batch);
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(dc.bytes_moved() / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(testing::op_name(v.c->op)) + (v.c->op == OpKind::linear ? " cublas" : ""));
}

void register_all() {
  std::vector<const KernelCase*> cases;
  for (const KernelCase& c : testing::cuda_emu_cases()) cases.push_back(&c);
  for (const KernelCase& c : testing::sd_full_size_cases()) cases.push_back(&c);
  for (const KernelCase* c : cases) {
    for (kc::DType dtype : {kc::DType::f16, kc::DType::bf16}) {
      std::vector<kc::ConvPath> paths{kc::ConvPath::hand_written};
      if (c->op == OpKind::conv2d) paths.push_back(kc::ConvPath::cudnn);
      for (kc::ConvPath path : paths) {
        std::string name = "cuda_" + std::string(kc::dtype_name(dtype)) + "/" + c->name;
        if (path == kc::ConvPath::cudnn) name += "/cudnn";
        benchmark::RegisterBenchmark(name.c_str(), bench_variant, Variant{c, dtype, path})
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace farm::kernels::bench

int main(int argc, char** argv) {
  farm::kernels::cpu::reexec_with_recommended_env("bench_cuda", argv);  // cpu_ops is the full-size oracle
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (const std::string why = farm::kernels::testing::cuda_device_problem(); !why.empty()) {
    std::printf("bench_cuda: no CUDA device found (%s); nothing to benchmark\n", why.c_str());
    return 0;
  }
  int dev = 0;
  cudaDeviceProp prop{};
  FARM_CHECK_CUDA(cudaGetDevice(&dev));
  FARM_CHECK_CUDA(cudaGetDeviceProperties(&prop, dev));
  benchmark::AddCustomContext("cuda_device", prop.name);
  benchmark::AddCustomContext("cudnn", farm::kernels::cuda::cudnn_description());
  farm::kernels::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
