// Per-shape choice between the hand-written convolution and cuDNN: the first
// time a shape is seen both are timed on the device (cudaEvent, after
// warm-up) and the choice is kept with the reason, for `farm selftest` to print.
//
// The hand-written kernel is batch-invariant; cuDNN is not (its algorithm
// depends on heuristics that see the batch). So cuDNN is chosen only with
// `allow_cudnn` (the explicit fast mode of ARCHITECTURE.md, `--fast` on the
// command line), and every row says which mode decided it. Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/conv2d.h"

FARM_CUDA_NAMESPACE_BEGIN

// Mean milliseconds per call of `launch` (which queues work on `stream`),
// timed with a cudaEvent pair around `iterations` calls after `warmup`
// untimed ones.
double time_on_device_ms(const std::function<void()>& launch, int warmup, int iterations, cudaStream_t stream);

enum class ConvPath : uint8_t { hand_written, cudnn };
const char* conv_path_name(ConvPath p);

struct AutotuneOptions {
  bool allow_cudnn = false;  // fast mode: gives up batch invariance
  int warmup = 3;
  int iterations = 10;
};

// Everything a kernel's speed depends on (pointers excluded).
struct ConvShape {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0, out_c = 0;
  int kernel = 0, stride = 0, pad = 0;
  DType dtype = DType::f16;
  bool bias = false, residual = false;
  static ConvShape of(const Conv2dParams& p);
  std::string describe() const;  // "2x64x64x320->320 k3 s1 f16 +bias"
  auto key() const { return std::tie(batch, in_h, in_w, in_c, out_c, kernel, stride, pad, dtype, bias, residual); }
  bool operator<(const ConvShape& o) const { return key() < o.key(); }
};

struct ConvChoice {
  ConvShape shape;
  ConvPath path = ConvPath::hand_written;
  double hand_written_ms = 0;
  double cudnn_ms = -1;  // < 0: cuDNN did not run (see why)
  std::string why;
};

// Fills c.path and c.why from the measured times (c.cudnn_ms ignored when
// cudnn_error is not empty): cuDNN only when it ran, was faster and
// opt.allow_cudnn.
void decide_conv_path(ConvChoice& c, const std::string& cudnn_error, const AutotuneOptions& opt);

// Times `p` on both paths (writing only to scratch outputs, so p.y and an
// aliased residual are left alone) and decides under `opt`.
ConvChoice tune_conv2d(const Conv2dParams& p, const AutotuneOptions& opt, cudaStream_t stream);

// Remembers one choice per shape. Not thread-safe: one per stream owner.
class ConvAutotuner {
 public:
  explicit ConvAutotuner(AutotuneOptions opt = {}) : opt_(opt) {}
  // Tunes on first sight of the shape, then runs the chosen path.
  void run(const Conv2dParams& p, cudaStream_t stream);
  const ConvChoice& choose(const Conv2dParams& p, cudaStream_t stream);
  std::vector<ConvChoice> table() const;
  const AutotuneOptions& options() const { return opt_; }

 private:
  AutotuneOptions opt_;
  std::map<ConvShape, ConvChoice> choices_;
};

// The table as text: shape, both times, choice, why; headed by the mode.
std::string format_autotune_table(const std::vector<ConvChoice>& rows, const AutotuneOptions& opt);

FARM_CUDA_NAMESPACE_END
