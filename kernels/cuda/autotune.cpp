#include "kernels/cuda/autotune.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/cuda/conv2d_cudnn.h"
#include "kernels/cuda/cuda_check.h"

FARM_CUDA_NAMESPACE_BEGIN

namespace {

// Device scratch freed on scope exit.
class Scratch {
 public:
  explicit Scratch(size_t bytes) { FARM_CHECK_CUDA(cudaMalloc(&p_, bytes > 0 ? bytes : 1)); }
  ~Scratch() { cudaFree(p_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  void* p_ = nullptr;
};

class EventPair {
 public:
  EventPair() {
    FARM_CHECK_CUDA(cudaEventCreate(&start_));
    FARM_CHECK_CUDA(cudaEventCreate(&stop_));
  }
  ~EventPair() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  cudaEvent_t start() const { return start_; }
  cudaEvent_t stop() const { return stop_; }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace

double time_on_device_ms(const std::function<void()>& launch, int warmup, int iterations, cudaStream_t stream) {
  for (int i = 0; i < warmup; ++i) launch();
  EventPair ev;
  FARM_CHECK_CUDA(cudaEventRecord(ev.start(), stream));
  for (int i = 0; i < iterations; ++i) launch();
  FARM_CHECK_CUDA(cudaEventRecord(ev.stop(), stream));
  FARM_CHECK_CUDA(cudaEventSynchronize(ev.stop()));
  float ms = 0;
  FARM_CHECK_CUDA(cudaEventElapsedTime(&ms, ev.start(), ev.stop()));
  return static_cast<double>(ms) / (iterations > 0 ? iterations : 1);
}

namespace {

std::string fmt(const char* f, double a, double b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

}  // namespace

const char* conv_path_name(ConvPath p) { return p == ConvPath::cudnn ? "cudnn" : "hand-written"; }

ConvShape ConvShape::of(const Conv2dParams& p) {
  ConvShape s;
  s.batch = p.batch, s.in_h = p.in_h, s.in_w = p.in_w, s.in_c = p.in_c, s.out_c = p.out_c;
  s.kernel = p.kernel, s.stride = p.stride, s.pad = p.pad, s.dtype = p.dtype;
  s.bias = p.bias != nullptr, s.residual = p.residual != nullptr;
  return s;
}

std::string ConvShape::describe() const {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%lldx%lldx%lldx%lld->%lld k%d s%d %s%s%s", static_cast<long long>(batch),
                static_cast<long long>(in_h), static_cast<long long>(in_w), static_cast<long long>(in_c),
                static_cast<long long>(out_c), kernel, stride, dtype_name(dtype), bias ? " +bias" : "",
                residual ? " +res" : "");
  return buf;
}

void decide_conv_path(ConvChoice& c, const std::string& cudnn_error, const AutotuneOptions& opt) {
  c.path = ConvPath::hand_written;
  if (!cudnn_error.empty()) {
    c.why = "cuDNN unavailable: " + cudnn_error;
  } else if (c.cudnn_ms >= c.hand_written_ms) {
    c.why = fmt("hand-written faster (%.3f vs %.3f ms)", c.hand_written_ms, c.cudnn_ms);
  } else if (!opt.allow_cudnn) {
    c.why = fmt("cuDNN faster (%.3f vs %.3f ms) but not batch-invariant: needs --fast", c.cudnn_ms,
                c.hand_written_ms);
  } else {
    c.path = ConvPath::cudnn;
    c.why = fmt("cuDNN faster (%.3f vs %.3f ms); fast mode, not batch-invariant", c.cudnn_ms, c.hand_written_ms);
  }
}

ConvChoice tune_conv2d(const Conv2dParams& p, const AutotuneOptions& opt, cudaStream_t stream) {
  ConvChoice c;
  c.shape = ConvShape::of(p);
  // Timing runs write a scratch y: p.y may hold a residual it is added to.
  const size_t y_bytes = static_cast<size_t>(p.batch * p.out_h() * p.out_w() * p.out_c) * 2;
  Scratch y(y_bytes);
  Conv2dParams q = p;
  q.y = y.get();
  c.hand_written_ms = time_on_device_ms([&] { invoke_conv2d(q, stream); }, opt.warmup, opt.iterations, stream);

  std::string cudnn_error = invoke_conv2d_cudnn(q, stream);  // also the first warm-up call
  if (cudnn_error.empty()) {
    c.cudnn_ms = time_on_device_ms([&] { (void)invoke_conv2d_cudnn(q, stream); }, opt.warmup, opt.iterations, stream);
  }
  FARM_CHECK_CUDA(cudaStreamSynchronize(stream));

  decide_conv_path(c, cudnn_error, opt);
  return c;
}

const ConvChoice& ConvAutotuner::choose(const Conv2dParams& p, cudaStream_t stream) {
  const ConvShape s = ConvShape::of(p);
  auto it = choices_.find(s);
  if (it == choices_.end()) it = choices_.emplace(s, tune_conv2d(p, opt_, stream)).first;
  return it->second;
}

void ConvAutotuner::run(const Conv2dParams& p, cudaStream_t stream) {
  if (choose(p, stream).path == ConvPath::cudnn) {
    const std::string err = invoke_conv2d_cudnn(p, stream);
    // It ran on this shape while tuning; failing now is a bug.
    if (!err.empty()) {
      std::fprintf(stderr, "farm autotune: cuDNN failed on a tuned shape %s: %s\n", ConvShape::of(p).describe().c_str(),
                   err.c_str());
      std::abort();
    }
    return;
  }
  invoke_conv2d(p, stream);
}

std::vector<ConvChoice> ConvAutotuner::table() const {
  std::vector<ConvChoice> v;
  for (const auto& [shape, choice] : choices_) v.push_back(choice);
  return v;
}

std::string format_autotune_table(const std::vector<ConvChoice>& rows, const AutotuneOptions& opt) {
  std::string out = opt.allow_cudnn
                        ? "conv autotune (fast mode: cuDNN allowed, batch invariance NOT guaranteed)\n"
                        : "conv autotune (batch-invariant mode: hand-written kernel only; --fast allows cuDNN)\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-36s %12s %12s  %-12s  %s\n", "shape", "hand ms", "cudnn ms", "chosen", "why");
  out += buf;
  for (const ConvChoice& c : rows) {
    char cudnn_ms[32];
    if (c.cudnn_ms < 0)
      std::snprintf(cudnn_ms, sizeof cudnn_ms, "-");
    else
      std::snprintf(cudnn_ms, sizeof cudnn_ms, "%.3f", c.cudnn_ms);
    std::snprintf(buf, sizeof buf, "  %-36s %12.3f %12s  %-12s  %s\n", c.shape.describe().c_str(), c.hand_written_ms,
                  cudnn_ms, conv_path_name(c.path), c.why.c_str());
    out += buf;
  }
  return out;
}

FARM_CUDA_NAMESPACE_END
