#include "launcher/selftest_kernels.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <functional>
#include <string>

#include "kernels/cuda/conv2d_cudnn.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/check/cuda_cases.h"
#include "kernels/check/device_case.h"
#include "kernels/check/precision_bound.h"
#include "kernels/check/sd_cases.h"

namespace farm::launcher {
namespace {

namespace kc = kernels::cuda;
using kernels::testing::KernelCase;
using kernels::testing::OpKind;
using kernels::testing::PrecisionCheck;

// Owns a non-blocking stream.
class Stream {
 public:
  Stream() { FARM_CHECK_CUDA(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

kc::ConvShape shape_of(const KernelCase& c, kc::DType dtype) {
  kc::ConvShape s;
  s.batch = c.batch, s.in_h = c.conv.in_h, s.in_w = c.conv.in_w, s.in_c = c.conv.in_c, s.out_c = c.conv.out_c;
  s.kernel = c.conv.kernel, s.stride = c.conv.stride, s.pad = c.conv.pad, s.dtype = dtype;
  s.bias = c.bias, s.residual = c.residual;
  return s;
}

// Which implementation the nvcc build runs for an op.
const char* impl_name(const KernelCase& c, kc::ConvPath path) {
  if (c.op == OpKind::linear) return "cublas";  // linear_cublas.cu
  if (c.op == OpKind::conv2d && path == kc::ConvPath::cudnn) return "cudnn";
  return "hand";
}

void print_header() {
  std::printf("%-38s %-10s %-6s %-4s %-6s %10s %10s %-6s %9s %10s\n", "case", "op", "impl", "type", "oracle",
              "max_err", "bound", "result", "ms", "rate");
}

// `rate`: TFLOP/s for GEMM-shaped ops, GB/s for the rest.
std::string rate(const KernelCase& c, double ms, double bytes) {
  char buf[40];
  const double flops = kernels::testing::flops(c, c.batch);
  if (ms <= 0) return "-";
  if (flops > 0)
    std::snprintf(buf, sizeof buf, "%.1f TF/s", flops / (ms * 1e-3) / 1e12);
  else
    std::snprintf(buf, sizeof buf, "%.0f GB/s", bytes / (ms * 1e-3) / 1e9);
  return buf;
}

struct Row {
  const KernelCase* c = nullptr;
  const char* impl = "";
  kc::DType dtype = kc::DType::f16;
  const char* oracle = "";
  PrecisionCheck check;
  std::string note;  // replaces the check when the path did not run
  double ms = -1, bytes = 0;
  bool failed() const { return note.empty() && !check.passes(); }
};

void print_row(const Row& r) {
  if (!r.note.empty()) {
    std::printf("%-38s %-10s %-6s %-4s %-6s  SKIP: %s\n", r.c->name.c_str(), kernels::testing::op_name(r.c->op),
                r.impl, kc::dtype_name(r.dtype), r.oracle, r.note.c_str());
    return;
  }
  std::printf("%-38s %-10s %-6s %-4s %-6s %10.3e %10.3e %-6s %9.4f %10s\n", r.c->name.c_str(),
              kernels::testing::op_name(r.c->op), r.impl, kc::dtype_name(r.dtype), r.oracle, r.check.kernel_err,
              r.check.bound, r.check.nan ? "NaN" : (r.check.passes() ? "pass" : "FAIL"), r.ms,
              rate(*r.c, r.ms, r.bytes).c_str());
}

}  // namespace

std::string describe_device() {
  int dev = 0, runtime = 0, driver = 0;
  FARM_CHECK_CUDA(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  FARM_CHECK_CUDA(cudaGetDeviceProperties(&p, dev));
  FARM_CHECK_CUDA(cudaRuntimeGetVersion(&runtime));
  FARM_CHECK_CUDA(cudaDriverGetVersion(&driver));
  char buf[512];
  std::snprintf(buf, sizeof buf, "device %d: %s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %d, driver %d; %s", dev,
                p.name, p.major, p.minor, p.multiProcessorCount,
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), runtime, driver,
                kc::cudnn_description().c_str());
  return buf;
}

KernelSelftestResult run_kernel_selftest(const KernelSelftestOptions& opt) {
  KernelSelftestResult result;
  std::vector<const KernelCase*> cases;
  for (const KernelCase& c : kernels::testing::cuda_emu_cases()) cases.push_back(&c);
  if (!opt.quick)
    for (const KernelCase& c : kernels::testing::sd_full_size_cases()) cases.push_back(&c);
  kc::AutotuneOptions tune;
  tune.allow_cudnn = opt.fast;
  tune.warmup = opt.warmup;
  tune.iterations = opt.iterations;

  Stream stream;
  if (opt.print) print_header();
  for (const KernelCase* c : cases) {
    if (!opt.filter.empty() && c->name.find(opt.filter) == std::string::npos) continue;
    // Full-size shapes take minutes on the plain reference: the cpu backend
    // (itself tested against ref by kernels_tests) is their oracle.
    const kernels::Ops& oracle = c->sd15 ? kernels::cpu_ops() : kernels::ref_ops();
    const char* oracle_name = c->sd15 ? "cpu" : "ref";
    const auto inputs = kernels::testing::random_inputs(*c, c->batch, std::hash<std::string>{}(c->name));
    for (kc::DType dtype : opt.dtypes) {
      const auto ref = kernels::testing::reference_for(oracle, *c, dtype, inputs);
      kernels::testing::DeviceCase dc(*c, dtype, inputs);
      std::vector<kc::ConvPath> paths{kc::ConvPath::hand_written};
      if (c->op == OpKind::conv2d) paths.push_back(kc::ConvPath::cudnn);
      kc::ConvChoice choice;
      choice.shape = shape_of(*c, dtype);
      std::string cudnn_error;
      for (kc::ConvPath path : paths) {
        Row r;
        r.c = c, r.impl = impl_name(*c, path), r.dtype = dtype, r.oracle = oracle_name;
        dc.clear_output(stream.get());
        r.note = dc.launch(stream.get(), path);
        if (r.note.empty()) {
          const std::vector<float> got = dc.download();
          r.check = kernels::testing::check_precision(got, ref.want, ref.baseline, dtype);
          r.ms = kc::time_on_device_ms([&] { (void)dc.launch(stream.get(), path); }, opt.warmup, opt.iterations,
                                       stream.get());
          r.bytes = dc.bytes_moved();
          (path == kc::ConvPath::hand_written ? choice.hand_written_ms : choice.cudnn_ms) = r.ms;
        } else if (path == kc::ConvPath::cudnn) {
          cudnn_error = r.note;
        }
        if (r.note.empty()) ++result.checks;  // a path that cannot run is shown, not counted
        if (r.failed()) ++result.failures;
        if (opt.print || r.failed()) print_row(r);
      }
      if (c->op == OpKind::conv2d) {
        kc::decide_conv_path(choice, cudnn_error, tune);
        result.conv_choices.push_back(choice);
      }
    }
    std::fflush(stdout);
  }
  return result;
}

}  // namespace farm::launcher
