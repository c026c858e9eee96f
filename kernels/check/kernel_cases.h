// The one list of kernel test cases (op, shapes, tolerances). The golden
// test (ref and cpu vs PyTorch), the cpu-vs-ref test, the batch-invariance
// test and bench_kernels all iterate it, so a shape added here is checked and
// timed everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace farm::kernels::testing {

enum class OpKind {
  conv2d,
  linear,
  attention,
  group_norm,
  layer_norm,
  rms_norm,
  rope,
  silu,
  gelu,
  quick_gelu,
  add,
  geglu,
  swiglu,
  modulate,
  gated_residual,
  upsample_nearest2x,
  concat_channels,
  timestep_embedding,
  patchify,  // DiT patches; `inverse`: back to the image
};

const char* op_name(OpKind op);

// Passes when |got - want| <= atol + rtol · |want| for every element.
struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};

// Only the fields of `op` are read; `batch` is the sample count for every op
// (for pointwise ops a sample is `rows` elements, for layer_norm `rows` rows,
// for rope `rope.rows` tokens with their rows of the (cos, sin) table).
struct KernelCase {
  std::string name;
  OpKind op = OpKind::add;
  int64_t batch = 1;
  Conv2dArgs conv;          // conv2d (its batch is ignored: `batch` rules)
  AttentionArgs attn;       // attention (likewise)
  RopeArgs rope;            // rope: rope.rows tokens per sample
  int64_t rows = 0;         // linear, layer/rms_norm, geglu, swiglu; elements per sample for pointwise ops
  int64_t in = 0, out = 0;  // linear
  int64_t hw = 0, channels = 0, groups = 0;  // group_norm; channels also layer_norm, upsample, modulate
  int64_t h = 0, w = 0;                      // upsample_nearest2x
  int64_t ca = 0, cb = 0;                    // concat_channels (per pixel of hw)
  int64_t inner = 0;                         // geglu, swiglu
  int64_t dim = 0;                           // timestep_embedding
  int64_t patch = 0;                         // patchify: image [h, w, channels], p = patch
  bool inverse = false;                      // patchify: patches -> image
  bool bias = false, residual = false, silu = false, flip_sin_to_cos = false;
  float eps = 1e-5f, shift = 0.0f, max_period = 10000.0f;
  float amplitude = 1.0f;  // attention: q and k drawn this large (logit overflow test)
  bool golden = false;     // tests/data/kernels/goldens.json holds a torch result under `name`
  bool sd15 = false;   // a full-size SD 1.5 shape: timed by bench_kernels, too slow for ref tests
  Tolerance vs_torch;  // ref or cpu against the torch golden
  Tolerance vs_ref;    // cpu against ref
};

const std::vector<KernelCase>& kernel_cases();

// One input of a case, in the order run_case takes them. A batched tensor has
// batch · per_sample elements laid out sample after sample; a shared one
// (weights) has per_sample elements.
struct TensorSpec {
  std::string name;
  int64_t per_sample = 0;
  bool batched = true;
  float scale = 1.0f, offset = 0.0f;  // random inputs: offset + scale · U(-1, 1)
};

std::vector<TensorSpec> input_specs(const KernelCase& c);
int64_t output_per_sample(const KernelCase& c);

// Runs the case's op on `ops` with `batch` samples (not c.batch, so the
// batch-invariance test can run one sample alone).
void run_case(const Ops& ops, const KernelCase& c, int64_t batch,
              const std::vector<const float*>& inputs, float* y);

// Deterministic random inputs for `batch` samples, one vector per spec.
std::vector<std::vector<float>> random_inputs(const KernelCase& c, int64_t batch, uint64_t seed);

// Multiply-adds ×2 for conv2d, linear and attention (causal counted in full);
// 0 for the rest, which are memory-bound and timed by bytes_moved.
double flops(const KernelCase& c, int64_t batch);
double bytes_moved(const KernelCase& c, int64_t batch);

}  // namespace farm::kernels::testing
