// The cpu backend in bf16 (--backend cpu --dtype bf16): the host backend
// with every matrix weight rounded to bf16 once, at load, and packed for the
// bf16 GEMM (kernels/cpu/bf16_gemm.h); conv2d, linear and attention read
// bf16 operands and sum in fp32. Vectors (biases, norm scales) stay fp32, as
// do activations, norms, softmax and the sampler: torch.autocast's split.
// A packed weight is a host tensor of dtype bf16 whose storage is a buffer
// from this backend's host allocator (Tensor::buffer), not Tensor::data.
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/cpu/bf16_ops.h"
#include "kernels/host/host_backend.h"

namespace farm::kernels {
namespace {

class HostAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p, size_t) noexcept override { std::free(p); }
};

bool is_packed(const Tensor& t) { return t.dtype == DType::bf16 && t.buffer != nullptr; }

cpu::PackedBf16 packed(const Tensor& t) {
  FARM_ASSERT(is_packed(t) && t.shape.size() >= 2, "not a packed bf16 weight: ", shape_str(t.shape));
  cpu::PackedBf16 w;
  w.n = t.shape[0], w.k = numel(t.shape) / w.n;
  w.n_pad = cpu::pad_to(w.n, 16), w.k_pad = cpu::pad_to(w.k, 32);
  w.data = static_cast<const uint16_t*>(t.buffer->get());
  return w;
}

class CpuBf16Backend final : public HostBackend {
 public:
  CpuBf16Backend() : HostBackend(cpu_ops()), alloc_(std::make_shared<HostAllocator>()) {}

  std::string name() const override { return cat("cpu (", cpu::bf16_isa_name(cpu::bf16_isa()), ")"); }
  DType dtype() const override { return DType::bf16; }

  Tensor weight(Tensor host) override {
    if (host.shape.size() < 2) return HostBackend::weight(std::move(host));
    FARM_ASSERT(host.on_host() && host.dtype == DType::f32, "weight from a ", device_name(host.device), " tensor");
    const int64_t n = host.shape[0], k = host.size() / n, elems = cpu::packed_elements(n, k);
    Tensor t;
    t.shape = host.shape;
    t.dtype = DType::bf16;
    t.buffer = std::make_shared<DeviceBuffer>(alloc_, static_cast<size_t>(elems) * 2);
    cpu::pack_bf16(host.ptr(), n, k, k, 1, static_cast<uint16_t*>(t.buffer->get()));
    weight_bytes_ += elems * 2;
    ++weight_tensors_;
    return t;
  }

  void conv2d(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual,
              Tensor& y) override {
    const auto timer = time_op("conv2d");
    cpu::conv2d_bf16(a, x.ptr(), packed(w), opt(bias), opt(residual), y.ptr());
  }
  void conv2d_upsampled2x(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias,
                          Tensor& y) override {
    const auto timer = time_op("conv2d");
    FARM_ASSERT(x.dim(1) * 2 == a.in_h && x.dim(2) * 2 == a.in_w, shape_str(x.shape), " upsampled to ", a.in_h, "x",
                a.in_w);
    cpu::conv2d_upsampled_bf16(a, 2, x.ptr(), packed(w), opt(bias), y.ptr());
  }
  void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const Tensor& x, const Tensor& w,
              const Tensor* bias, const Tensor* residual, Tensor& y) override {
    const auto timer = time_op("linear");
    const cpu::PackedBf16 p = packed(w);
    FARM_ASSERT(p.n == out && p.k == in, "linear ", in, " -> ", out, " with a weight ", shape_str(w.shape));
    cpu::linear_bf16(batch, rows, x.ptr(), p, opt(bias), opt(residual), y.ptr());
  }
  void linear_geglu(int64_t batch, int64_t rows, int64_t in, int64_t inner, const Tensor& x, const Tensor& w,
                    const Tensor* bias, Tensor& y) override {
    if (inner % 16 != 0) return Backend::linear_geglu(batch, rows, in, inner, x, w, bias, y);
    const auto timer = time_op("linear");
    const cpu::PackedBf16 p = packed(w);
    FARM_ASSERT(p.n == 2 * inner && p.k == in, "GEGLU projection ", in, " -> 2 x ", inner, " with a weight ",
                shape_str(w.shape));
    cpu::linear_geglu_bf16(batch, rows, x.ptr(), p, opt(bias), y.ptr());
  }
  void attention(const AttentionArgs& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    const auto timer = time_op("attention");
    cpu::attention_bf16(a, q.ptr(), k.ptr(), v.ptr(), out.ptr());
  }
  void embed_tokens(const std::vector<int64_t>& ids, int64_t batch, const Tensor& token_table,
                    const Tensor& position_table, Tensor& y) override {
    const auto timer = time_op("embed_tokens");
    const cpu::PackedBf16 tokens = packed(token_table), positions = packed(position_table);
    const int64_t D = tokens.k, L = static_cast<int64_t>(ids.size()) / batch;
    std::vector<float> tok(static_cast<size_t>(D)), pos(static_cast<size_t>(D));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < L; ++t) {
        cpu::unpack_row(tokens, ids[b * L + t], tok.data());
        cpu::unpack_row(positions, t, pos.data());
        for (int64_t d = 0; d < D; ++d) y.data[(b * L + t) * D + d] = tok[d] + pos[d];
      }
  }

 private:
  std::shared_ptr<DeviceAllocator> alloc_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_bf16_backend() { return std::make_unique<CpuBf16Backend>(); }

}  // namespace farm::kernels
