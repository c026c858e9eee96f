// The execution context models run on: where tensors live, in what dtype,
// on which stream, and the ops over them. One interface for every backend:
//  - host backends (ref, cpu) wrap an fp32 kernel table (kernels/ops.h) and
//    compute on host tensors, bit for bit as the table does;
//  - the CUDA backend (kernels/cuda/cuda_backend.h; its emulated twin) keeps
//    weights and activations on the device in f16/bf16, launches every op on
//    one stream with no host synchronisation, and allocates from a caching
//    allocator, so a steady-state denoising step moves only its latent-sized
//    input and output across the host boundary.
// Models never touch raw pointers; they ask the backend for tensors (`empty`,
// `weight`, `to_backend`) and give results back to the host (`to_host`) only
// where the host needs them (the sampler, the PNG).
//
// The op contracts are those of kernels/ops.h, over tensors: every output is
// a tensor the caller made with `empty` for this backend.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "farm/core/tensor.h"
#include "kernels/ops.h"
#include "kernels/tensor_link.h"

namespace farm::kernels {

enum class Activation : uint8_t { silu, gelu, quick_gelu };  // gelu: exact (erf)

// What crossed the host boundary and what the device was asked to do. Host
// backends leave it zero. In emulated builds these are the emulator
// runtime's own counts (an independent witness of the backend's).
struct DeviceCounters {
  int64_t h2d_bytes = 0, d2h_bytes = 0;  // host <-> device copies
  int64_t allocations = 0;               // device allocations (cudaMalloc)
  int64_t syncs = 0;                     // device-wide synchronisations
  int64_t stream_syncs = 0;              // waits for this rank's stream (results the host needs)
  int64_t launches = 0;                  // kernel launches
  DeviceCounters operator-(const DeviceCounters& o) const;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  virtual DType dtype() const = 0;  // of weights and activations

  // Tensors.
  virtual Tensor empty(Shape s) = 0;                  // an activation, values unspecified
  virtual Tensor weight(Tensor host_f32) = 0;         // a weight: converted and placed once, at load
  virtual Tensor to_backend(const Tensor& host) = 0;  // model inputs (a host fp32 tensor; same if already here)
  virtual Tensor to_host(const Tensor& t) = 0;        // host fp32 (waits for the work that makes t)
  // A decoded image [B,H,W,3] in about [-1,1] to host RGB bytes [B,H,W,3], as
  // diffusers: round((x / 2 + 0.5).clamp(0, 1) · 255), half to even. On a
  // device only the bytes cross (waits, as to_host).
  virtual std::vector<uint8_t> image_to_rgb8(const Tensor& image) = 0;

  // Ops, as kernels/ops.h describes them.
  virtual void conv2d(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias,
                      const Tensor* residual, Tensor& y) = 0;
  virtual void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const Tensor& x, const Tensor& w,
                      const Tensor* bias, const Tensor* residual, Tensor& y) = 0;
  virtual void attention(const AttentionArgs& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) = 0;
  virtual void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps, const Tensor& x,
                          const Tensor& gamma, const Tensor& beta, bool silu, Tensor& y) = 0;  // y may be x
  virtual void layer_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma,
                          const Tensor& beta, Tensor& y) = 0;
  virtual void rms_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma,
                        Tensor& y) = 0;  // y may be x
  // table: host fp32 [a.rows, head_dim / 2, 2] of (cos, sin); x rotated in place.
  virtual void rope(const RopeArgs& a, const Tensor& table, Tensor& x) = 0;
  virtual void activation(Activation act, const Tensor& x, Tensor& y) = 0;  // y may be x
  virtual void add(const Tensor& a, const Tensor& b, Tensor& y) = 0;
  virtual void geglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) = 0;
  virtual void swiglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) = 0;
  // x, y, h [B, rows, C]; scale, gate [B, C] (kernels/ops.h). y may be x.
  virtual void modulate(const Tensor& x, const Tensor& scale, Tensor& y) = 0;
  virtual void gated_residual(const Tensor& gate, const Tensor& y, Tensor& h) = 0;
  // geglu(linear(x)) with w [2·inner, in]: y [batch·rows, inner]. By default
  // the two ops; a backend may skip the [rows, 2·inner] product (the cpu bf16
  // one: 84 MB per SD 1.5 transformer block at 512², written and read back).
  virtual void linear_geglu(int64_t batch, int64_t rows, int64_t in, int64_t inner, const Tensor& x, const Tensor& w,
                            const Tensor* bias, Tensor& y) {
    Tensor proj = empty({batch * rows, 2 * inner});
    linear(batch, rows, in, 2 * inner, x, w, bias, nullptr, proj);
    geglu(batch * rows, inner, proj, y);
  }
  // Nearest-neighbour resize x[B,H,W,C] -> y[B,Ho,Wo,C] as torch's
  // interpolate(mode="nearest") to an explicit size (2x is the common case).
  virtual void upsample_nearest(const Tensor& x, Tensor& y) = 0;
  // conv2d of x[B,H,W,C] upsampled 2× (nearest): `a` describes the conv on
  // the upsampled input (in_h = 2H, in_w = 2W). By default it upsamples and
  // convolves; a backend may read x in place instead (the cpu bf16 one: the
  // upsampled tensor is the largest of a VAE decode, 268 MB at 512²).
  virtual void conv2d_upsampled2x(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias,
                                  Tensor& y) {
    Tensor up = empty({x.dim(0), a.in_h, a.in_w, x.dim(3)});
    upsample_nearest(x, up);
    conv2d(a, up, w, bias, nullptr, y);
  }
  virtual void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) = 0;
  // image [B, H, W, C] -> patches [B, (H/p)(W/p), p·p·C] (ops.h), and back.
  void patchify(int64_t p, const Tensor& image, Tensor& patches) {
    patch_move(p, image.dim(1), image.dim(2), image.dim(3), false, image, patches);
  }
  void unpatchify(int64_t p, const Tensor& patches, Tensor& image) {
    patch_move(p, image.dim(1), image.dim(2), image.dim(3), true, patches, image);
  }
  virtual void patch_move(int64_t p, int64_t h, int64_t w, int64_t c, bool inverse, const Tensor& x, Tensor& y) = 0;
  // t: host fp32 [batch] (timesteps stay fp32: 999 is not exact in fp16).
  virtual void timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                                  float max_period, Tensor& y) = 0;
  // h[b, i, c] += v[b, c] for h [B, ..., C] and v [B, C] (a resnet's time embedding).
  virtual void add_channel_bias(Tensor& h, const Tensor& v) = 0;
  // y[b, t, :] = token_table[ids[b·L + t], :] + position_table[t, :]; ids on the host,
  // checked against the table's rows by the caller. An undefined position_table
  // adds nothing (rotary models: Qwen3).
  virtual void embed_tokens(const std::vector<int64_t>& ids, int64_t batch, const Tensor& token_table,
                            const Tensor& position_table, Tensor& y) = 0;

  // Free and total device memory in bytes (cudaMemGetInfo); -1 on the host.
  virtual int64_t free_memory() const { return -1; }
  virtual int64_t total_memory() const { return -1; }
  // Device memory the backend holds: now (in its allocator's pool) and the
  // most it had in use at once. 0 on the host.
  virtual int64_t reserved_memory() const { return 0; }
  virtual int64_t peak_memory() const { return 0; }

  // Device time per op name, when the backend profiles (FARM_PROFILE_OPS=1
  // on CUDA): name -> (total ms, calls). Empty otherwise.
  virtual std::map<std::string, std::pair<double, int64_t>> op_times() { return {}; }

  // Counters since the backend was made (zero on host backends).
  virtual DeviceCounters counters() const { return {}; }
  // The backend's own count of what it asked of the device. Equal to
  // counters() on a GPU; in emulated builds counters() is the emulated
  // runtime's count, and tests compare the two.
  virtual DeviceCounters own_counters() const { return counters(); }
  // A device-to-device link (kernels/tensor_link.h) between the ranks of
  // `edges`, this rank being `rank`; collective over every rank of the job
  // (ids travel through `all_gather`). Null when this backend's tensors go
  // through the host: host backends, a CUDA build without NCCL.
  virtual std::unique_ptr<TensorLink> make_link(int /*rank*/, const std::vector<LinkEdge>& /*edges*/,
                                                const AllGather& /*all_gather*/) {
    return nullptr;
  }

  // Bytes of weights placed by `weight` and how many tensors (each once).
  int64_t weight_bytes() const { return weight_bytes_; }
  int64_t weight_tensors() const { return weight_tensors_; }

 protected:
  int64_t weight_bytes_ = 0, weight_tensors_ = 0;
};

// A host backend over an fp32 kernel table (ref_ops(), cpu_ops(), or a test's).
std::unique_ptr<Backend> make_host_backend(const Ops& ops);
// The cpu backend with bf16 weights and bf16 GEMM operands, fp32 sums
// (kernels/host/cpu_bf16_backend.cpp): AMX where the CPU has it, a portable
// (slow) kernel elsewhere — callers fall back to fp32 there (launcher/backend.h).
std::unique_ptr<Backend> make_cpu_bf16_backend();
// The process's host backends over ref_ops() and cpu_ops() (they hold no state).
Backend& ref_backend();
Backend& cpu_backend();

}  // namespace farm::kernels
