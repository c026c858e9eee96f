// The device-resident CUDA backend of cuda_backend.h. Compiled into
// kernels_cuda (nvcc's kernels, a GPU) and kernels_cuda_emu
// (FARM_CUDA_EMULATED: the same kernels on the SIMT emulator).
#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <array>
#include <utility>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "farm/core/error.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/bits16.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_allocator.h"
#include "kernels/cuda/nccl_link.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gather.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/norm.h"
#include "kernels/cuda/op_profile.h"
#if defined(FARM_CUDA_EMULATED)
#include "kernels/emu/counters.h"
#endif

namespace farm::kernels {
namespace {

using cuda::from_bits;
using cuda::to_bits;

// Page-locked host memory, grown on demand and kept: the latent-sized copies
// of a step reuse it, so they need no allocation and can run async.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
    if (done_) cudaEventDestroy(done_);
  }
  // Waits until the last copy from this buffer has finished, then returns it (at least `bytes`).
  void* acquire(size_t bytes) {
    if (!done_) FARM_CHECK_CUDA(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    // The copy queued a step ago has long finished: query first, wait only if not.
    if (pending_ && cudaEventQuery(done_) == cudaErrorNotReady) FARM_CHECK_CUDA(cudaEventSynchronize(done_));
    pending_ = false;
    if (bytes > size_) {
      if (p_) FARM_CHECK_CUDA(cudaFreeHost(p_));
      FARM_CHECK_CUDA(cudaMallocHost(&p_, bytes));
      size_ = bytes;
    }
    return p_;
  }
  // Marks the copies queued so far on `stream` as the buffer's last use.
  void queued_on(cudaStream_t stream) {
    FARM_CHECK_CUDA(cudaEventRecord(done_, stream));
    pending_ = true;
  }

 private:
  void* p_ = nullptr;
  size_t size_ = 0;
  cudaEvent_t done_ = nullptr;
  bool pending_ = false;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(cuda::DType dtype, int device, const char* name)
      : dtype_(dtype), device_(device), name_(cat(name, "_", cuda::dtype_name(dtype))) {
    FARM_CHECK_CUDA(cudaSetDevice(device));
    FARM_CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    alloc_ = std::make_shared<cuda_detail::CachingAllocator>();
    if (const char* p = std::getenv("FARM_PROFILE_OPS"); p && *p && *p != '0')
      profile_ = std::make_unique<cuda_detail::OpProfile>(stream_);
#if defined(FARM_CUDA_EMULATED)
    base_ = emu::runtime_counters();
#endif
  }
  std::map<std::string, std::pair<double, int64_t>> op_times() override {
    return profile_ ? profile_->totals() : std::map<std::string, std::pair<double, int64_t>>{};
  }

  ~CudaBackend() override {
    profile_.reset();
    // Tensors may outlive the backend (they share the allocator); the stream goes.
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return name_; }
  Device device() const override { return Device::cuda; }
  DType dtype() const override { return dtype_ == cuda::DType::f16 ? DType::f16 : DType::bf16; }

  Tensor empty(Shape s) override { return Tensor::on_device(std::move(s), dtype(), Device::cuda, alloc_); }

  Tensor weight(Tensor host) override {
    FARM_ASSERT(host.on_host(), "weight from a device tensor");
    Tensor t = empty(host.shape);
    std::vector<uint16_t> bits(static_cast<size_t>(host.size()));
    for (size_t i = 0; i < bits.size(); ++i) bits[i] = to_bits(host.data[i], dtype_);
    // Once per job, at load: a plain synchronous copy from pageable memory.
    FARM_CHECK_CUDA(cudaMemcpy(t.device_ptr(), bits.data(), t.bytes(), cudaMemcpyHostToDevice));
    own_.h2d_bytes += static_cast<int64_t>(t.bytes());
    weight_bytes_ += static_cast<int64_t>(t.bytes());
    ++weight_tensors_;
    return t;
  }

  Tensor to_backend(const Tensor& host) override {
    if (!host.on_host()) {
      FARM_ASSERT(host.dtype == dtype(), "a ", dtype_name(host.dtype), " device tensor on a ", name_, " backend");
      return host;
    }
    Tensor t = empty(host.shape);
    auto* bits = static_cast<uint16_t*>(upload_.acquire(t.bytes()));
    for (int64_t i = 0; i < host.size(); ++i) bits[i] = to_bits(host.data[i], dtype_);
    FARM_CHECK_CUDA(cudaMemcpyAsync(t.device_ptr(), bits, t.bytes(), cudaMemcpyHostToDevice, stream_));
    upload_.queued_on(stream_);
    own_.h2d_bytes += static_cast<int64_t>(t.bytes());
    return t;
  }

  Tensor to_host(const Tensor& t) override {
    if (t.on_host()) return t;
    auto* bits = static_cast<uint16_t*>(download_.acquire(t.bytes()));
    FARM_CHECK_CUDA(cudaMemcpyAsync(bits, t.device_ptr(), t.bytes(), cudaMemcpyDeviceToHost, stream_));
    FARM_CHECK_CUDA(cudaStreamSynchronize(stream_));
    own_.d2h_bytes += static_cast<int64_t>(t.bytes());
    ++own_.stream_syncs;
    Tensor h(t.shape);
    for (int64_t i = 0; i < h.size(); ++i) h.data[i] = from_bits(bits[i], dtype_);
    return h;
  }

  std::vector<uint8_t> image_to_rgb8(const Tensor& image) override {
    const int64_t n = image.size();
    const Tensor bytes = Tensor::on_device({(n + 3) / 4}, DType::i32, Device::cuda, alloc_);  // room for n bytes
    op("image_to_rgb8");
    cuda::invoke_image_to_rgb8(n, in(image), static_cast<uint8_t*>(bytes.device_ptr()), dtype_, stream_);
    launched();
    auto* host = static_cast<uint8_t*>(download_.acquire(static_cast<size_t>(n)));
    FARM_CHECK_CUDA(cudaMemcpyAsync(host, bytes.device_ptr(), static_cast<size_t>(n), cudaMemcpyDeviceToHost, stream_));
    FARM_CHECK_CUDA(cudaStreamSynchronize(stream_));
    own_.d2h_bytes += n;
    ++own_.stream_syncs;
    return std::vector<uint8_t>(host, host + n);
  }

  void conv2d(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual,
              Tensor& y) override {
    cuda::Conv2dParams p;
    p.x = in(x), p.w = in(w), p.bias = opt(bias), p.residual = opt(residual), p.y = out(y);
    p.batch = a.batch, p.in_h = a.in_h, p.in_w = a.in_w, p.in_c = a.in_c, p.out_c = a.out_c;
    p.kernel = a.kernel, p.stride = a.stride, p.pad = a.pad, p.dtype = dtype_;
    op(a.kernel == 1 ? "conv2d 1x1" : a.stride == 2 ? "conv2d 3x3 stride 2" : "conv2d 3x3");
    cuda::invoke_conv2d(p, stream_);
    launched();
  }
  void linear(int64_t batch, int64_t rows, int64_t in_f, int64_t out_f, const Tensor& x, const Tensor& w,
              const Tensor* bias, const Tensor* residual, Tensor& y) override {
    cuda::LinearParams p;
    p.x = in(x), p.w = in(w), p.bias = opt(bias), p.residual = opt(residual), p.y = out(y);
    p.batch = batch, p.rows = rows, p.in = in_f, p.out = out_f, p.dtype = dtype_;
    op("linear");
    cuda::invoke_linear(p, stream_);
    launched();
  }
  void attention(const AttentionArgs& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& o) override {
    cuda::AttentionParams p;
    p.q = in(q), p.k = in(k), p.v = in(v), p.out = out(o);
    p.batch = a.batch, p.heads = a.heads, p.q_len = a.q_len, p.kv_len = a.kv_len, p.head_dim = a.head_dim;
    p.q_stride = a.q_stride, p.kv_stride = a.kv_stride, p.out_stride = a.out_stride;
    p.scale = a.scale, p.causal = a.causal, p.kv_heads = a.kv_heads, p.dtype = dtype_;
    op(a.head_dim > 160 ? "attention (rows, head dim > 160)"
       : a.causal       ? "attention (flash, causal)"
                        : "attention (flash)");
    cuda::invoke_attention(p, stream_);
    launched();
  }
  void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps, const Tensor& x,
                  const Tensor& gamma, const Tensor& beta, bool silu, Tensor& y) override {
    cuda::GroupNormParams p;
    p.x = in(x), p.gamma = in(gamma), p.beta = in(beta), p.y = out(y);
    p.batch = batch, p.hw = hw, p.channels = channels, p.groups = groups, p.eps = eps, p.silu = silu;
    p.dtype = dtype_;
    op(silu ? "group_norm + silu" : "group_norm");
    cuda::invoke_group_norm(p, stream_);
    launched();
  }
  void layer_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  Tensor& y) override {
    cuda::LayerNormParams p;
    p.x = in(x), p.gamma = in(gamma), p.beta = in(beta), p.y = out(y);
    p.rows = rows, p.channels = channels, p.eps = eps, p.dtype = dtype_;
    op("layer_norm");
    cuda::invoke_layer_norm(p, stream_);
    launched();
  }
  void activation(Activation act, const Tensor& x, Tensor& y) override {
    const auto a = act == Activation::silu   ? cuda::Activation::silu
                   : act == Activation::gelu ? cuda::Activation::gelu
                                             : cuda::Activation::quick_gelu;
    op("activation");
    cuda::invoke_activation(a, x.size(), in(x), out(y), dtype_, stream_);
    launched();
  }
  void add(const Tensor& a, const Tensor& b, Tensor& y) override {
    op("add");
    cuda::invoke_add(a.size(), in(a), in(b), out(y), dtype_, stream_);
    launched();
  }
  void rms_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma,
                Tensor& y) override {
    cuda::RmsNormParams p;
    p.x = in(x), p.gamma = in(gamma), p.y = out(y);
    p.rows = rows, p.channels = channels, p.eps = eps, p.dtype = dtype_;
    op("rms_norm");
    cuda::invoke_rms_norm(p, stream_);
    launched();
  }
  void rope(const RopeArgs& a, const Tensor& table, Tensor& x) override {
    // The (cos, sin) table stays fp32 on the device: torch's complex RoPE
    // multiplies in fp32 (Z-Image), and 16-bit angles would drift.
    const Tensor dt = upload_raw(table.data.data(), table.data.size() * sizeof(float), DType::f32, {table.size()});
    op("rope");
    cuda::invoke_rope(a.rows, a.heads, a.head_dim, a.stride, a.interleaved, static_cast<const float*>(dt.device_ptr()),
                      out(x), dtype_, stream_);
    launched();
  }
  void swiglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) override {
    op("swiglu");
    cuda::invoke_swiglu(rows, inner, in(x), out(y), dtype_, stream_);
    launched();
  }
  void modulate(const Tensor& x, const Tensor& scale, Tensor& y) override {
    const int64_t B = x.dim(0), C = x.dim(-1);
    op("modulate");
    cuda::invoke_modulate(B, x.size() / (B * C), C, in(x), in(scale), out(y), dtype_, stream_);
    launched();
  }
  void gated_residual(const Tensor& gate, const Tensor& y, Tensor& h) override {
    const int64_t B = h.dim(0), C = h.dim(-1);
    op("gated_residual");
    cuda::invoke_gated_residual(B, h.size() / (B * C), C, in(gate), in(y), out(h), dtype_, stream_);
    launched();
  }
  void geglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) override {
    op("geglu");
    cuda::invoke_geglu(rows, inner, in(x), out(y), dtype_, stream_);
    launched();
  }
  void upsample_nearest(const Tensor& x, Tensor& y) override {
    const int64_t B = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), oh = y.dim(1), ow = y.dim(2);
    op("upsample_nearest");
    if (oh == 2 * H && ow == 2 * W)
      cuda::invoke_upsample_nearest2x(B, H, W, C, in(x), out(y), dtype_, stream_);
    else
      cuda::invoke_upsample_nearest(B, H, W, C, oh, ow, in(x), out(y), dtype_, stream_);
    launched();
  }
  void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) override {
    const int64_t B = a.dim(0), ca = a.dim(-1), cb = b.dim(-1);
    op("concat_channels");
    cuda::invoke_concat_channels(B, a.size() / (B * ca), ca, in(a), cb, in(b), out(y), dtype_, stream_);
    launched();
  }
  void patch_move(int64_t p, int64_t h, int64_t w, int64_t c, bool inverse, const Tensor& x, Tensor& y) override {
    op("patchify");
    cuda::invoke_patchify(x.dim(0), h, w, c, p, inverse, in(x), out(y), dtype_, stream_);
    launched();
  }
  void timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                          float max_period, Tensor& y) override {
    // Timesteps stay fp32 on the device too: a [batch] upload per pass.
    const Tensor dt = upload_raw(t.data.data(), t.data.size() * sizeof(float), DType::f32, {t.size()});
    op("timestep_embedding");
    cuda::invoke_timestep_embedding(t.size(), static_cast<const float*>(dt.device_ptr()), dim, flip_sin_to_cos,
                                    downscale_freq_shift, max_period, out(y), dtype_, stream_);
    launched();
  }
  void add_channel_bias(Tensor& h, const Tensor& v) override {
    const int64_t B = h.dim(0), C = h.dim(-1);
    FARM_ASSERT(v.size() == B * C, shape_str(v.shape), " onto ", shape_str(h.shape));
    op("add_channel_bias");
    cuda::invoke_add_channel_bias(B, h.size() / (B * C), C, out(h), in(v), dtype_, stream_);
    launched();
  }
  void embed_tokens(const std::vector<int64_t>& ids, int64_t batch, const Tensor& token_table,
                    const Tensor& position_table, Tensor& y) override {
    std::vector<int32_t> ids32(ids.begin(), ids.end());  // ids < vocab (checked by the caller)
    const Tensor dids = upload_raw(ids32.data(), ids32.size() * sizeof(int32_t), DType::i32,
                                   {static_cast<int64_t>(ids32.size())});
    const int64_t L = static_cast<int64_t>(ids.size()) / batch;
    op("embed_tokens");
    cuda::invoke_embed_tokens(batch, L, token_table.dim(1), static_cast<const int32_t*>(dids.device_ptr()),
                              in(token_table), opt(&position_table), out(y), dtype_, stream_);
    launched();
  }

#if defined(FARM_HAVE_NCCL_LINK)
  std::unique_ptr<TensorLink> make_link(int rank, const std::vector<LinkEdge>& edges,
                                        const AllGather& all_gather) override {
    return cuda_detail::make_nccl_link(rank, edges, all_gather, stream_, alloc_, Device::cuda,
                                       cat(" (rank ", rank, ", ", name_, " device ", device_, ")"));
  }
#endif

  int64_t free_memory() const override { return mem_info().first; }
  int64_t total_memory() const override { return mem_info().second; }
  int64_t reserved_memory() const override { return static_cast<int64_t>(alloc_->reserved()); }
  int64_t peak_memory() const override { return static_cast<int64_t>(alloc_->peak_in_use()); }

  DeviceCounters counters() const override {
#if defined(FARM_CUDA_EMULATED)
    const emu::RuntimeCounters c = emu::runtime_counters();
    return {c.h2d_bytes - base_.h2d_bytes,       c.d2h_bytes - base_.d2h_bytes,
            c.device_allocations - base_.device_allocations, c.device_syncs - base_.device_syncs,
            c.stream_syncs - base_.stream_syncs, c.launches - base_.launches};
#else
    return own_counters();
#endif
  }
  DeviceCounters own_counters() const override {
    DeviceCounters c = own_;
    c.allocations = alloc_->allocations();
    return c;
  }

 private:
  // Around each op's launch: its profile events, and the launch count.
  void op(const char* name) {
    if (profile_) profile_->begin(name);
  }
  void launched() {
    if (profile_) profile_->end();
    ++own_.launches;
  }

  std::pair<int64_t, int64_t> mem_info() const {
    size_t free_b = 0, total_b = 0;
    FARM_CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
    return {static_cast<int64_t>(free_b), static_cast<int64_t>(total_b)};
  }

  const void* in(const Tensor& t) const {
    FARM_ASSERT(!t.on_host() && t.dtype == dtype(), "a ", device_name(t.device), " ", dtype_name(t.dtype), " tensor ",
                shape_str(t.shape), " given to ", name_, " (place it with to_backend)");
    return t.device_ptr();
  }
  void* out(Tensor& t) const { return const_cast<void*>(in(t)); }
  const void* opt(const Tensor* t) const { return t && t->defined() ? in(*t) : nullptr; }

  // Raw bytes (timesteps, token ids) to a device tensor of `dtype`, through pinned memory.
  Tensor upload_raw(const void* src, size_t bytes, DType dt, Shape s) {
    Tensor t = Tensor::on_device(std::move(s), dt, Device::cuda, alloc_);
    // A slot of its own per small upload, so a step's uploads do not wait on each other.
    PinnedBuffer& slot = small_[next_small_++ % small_.size()];
    void* staging = slot.acquire(bytes);
    std::memcpy(staging, src, bytes);
    FARM_CHECK_CUDA(cudaMemcpyAsync(t.device_ptr(), staging, bytes, cudaMemcpyHostToDevice, stream_));
    slot.queued_on(stream_);
    own_.h2d_bytes += static_cast<int64_t>(bytes);
    return t;
  }

  cuda::DType dtype_;
  int device_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<cuda_detail::CachingAllocator> alloc_;
  PinnedBuffer upload_, download_;
  std::array<PinnedBuffer, 4> small_;
  std::unique_ptr<cuda_detail::OpProfile> profile_;
  size_t next_small_ = 0;
  DeviceCounters own_;
#if defined(FARM_CUDA_EMULATED)
  emu::RuntimeCounters base_;
#endif
};

int pick_device(int local_rank, int local_ranks, const std::string& host) {
  int devices = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess || devices == 0)
    fail("no CUDA device found on ", host, " (cudaGetDeviceCount: ",
         e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", ")");
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (devices == 1 && visible && *visible) return 0;  // one device bound to this task
  if (local_ranks > devices)
    fail(local_ranks, " ranks on ", host, " but ", devices, " CUDA device", devices == 1 ? "" : "s",
         " visible: start one rank per GPU (mpirun -np, or srun --gpus-per-task=1)");
  return local_rank;
}

}  // namespace

#if defined(FARM_CUDA_EMULATED)
std::unique_ptr<Backend> make_cuda_emu_backend(cuda::DType dtype, int local_rank, int local_ranks,
                                               const std::string& host) {
  return std::make_unique<CudaBackend>(dtype, pick_device(local_rank, local_ranks, host), "cuda_emu");
}
#else
std::unique_ptr<Backend> make_cuda_backend(cuda::DType dtype, int local_rank, int local_ranks,
                                           const std::string& host) {
  return std::make_unique<CudaBackend>(dtype, pick_device(local_rank, local_ranks, host), "cuda");
}
#endif

}  // namespace farm::kernels
