// The staging adapter of staging_ops.h: fp32 host buffers -> fp16/bf16 device
// buffers -> kernel -> fp32 host buffers, one op at a time. Built into
// kernels_check_cuda as cuda_staging_ops() and into kernels_check_emu as
// cuda_emu_staging_ops() (FARM_CUDA_EMULATED), where cudaMalloc/cudaMemcpy
// are host operations.
#include "kernels/check/staging_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/bits16.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/norm.h"

namespace farm::kernels {
namespace {

using cuda::DType;
using cuda::from_bits;
using cuda::to_bits;

// A device buffer of n 16-bit elements (or raw bytes), freed on scope exit.
class DeviceTensor {
 public:
  DeviceTensor(int64_t n, DType dtype) : n_(n), dtype_(dtype) {
    FARM_CHECK_CUDA(cudaMalloc(&p_, static_cast<size_t>(n > 0 ? n : 1) * 2));
  }
  // Uploads host[0, n) rounded to dtype; a null host gives a null tensor.
  static DeviceTensor upload(const float* host, int64_t n, DType dtype) {
    if (!host) return DeviceTensor(dtype);
    DeviceTensor t(n, dtype);
    std::vector<uint16_t> bits(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) bits[i] = to_bits(host[i], dtype);
    FARM_CHECK_CUDA(cudaMemcpy(t.p_, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
    return t;
  }
  void download(float* host) const {
    std::vector<uint16_t> bits(static_cast<size_t>(n_));
    FARM_CHECK_CUDA(cudaMemcpy(bits.data(), p_, bits.size() * 2, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < n_; ++i) host[i] = from_bits(bits[i], dtype_);
  }
  DeviceTensor(DeviceTensor&& o) noexcept : p_(o.p_), n_(o.n_), dtype_(o.dtype_) { o.p_ = nullptr; }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;
  DeviceTensor& operator=(DeviceTensor&&) = delete;
  ~DeviceTensor() {
    if (p_) cudaFree(p_);
  }
  void* get() const { return p_; }

 private:
  explicit DeviceTensor(DType dtype) : dtype_(dtype) {}
  void* p_ = nullptr;
  int64_t n_ = 0;
  DType dtype_;
};

void finish() { FARM_CHECK_CUDA(cudaDeviceSynchronize()); }

template <DType kT>
void conv2d(const Conv2dArgs& a, const float* x, const float* w, const float* bias, const float* residual,
            float* y) {
  const int64_t y_n = a.batch * a.out_h() * a.out_w() * a.out_c;
  auto dx = DeviceTensor::upload(x, a.batch * a.in_h * a.in_w * a.in_c, kT);
  auto dw = DeviceTensor::upload(w, a.out_c * a.kernel * a.kernel * a.in_c, kT);
  auto db = DeviceTensor::upload(bias, a.out_c, kT);
  auto dr = DeviceTensor::upload(residual, y_n, kT);
  DeviceTensor dy(y_n, kT);
  cuda::Conv2dParams p;
  p.x = dx.get(), p.w = dw.get(), p.bias = db.get(), p.residual = dr.get(), p.y = dy.get();
  p.batch = a.batch, p.in_h = a.in_h, p.in_w = a.in_w, p.in_c = a.in_c, p.out_c = a.out_c;
  p.kernel = a.kernel, p.stride = a.stride, p.pad = a.pad, p.dtype = kT;
  cuda::invoke_conv2d(p, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w,
            const float* bias, const float* residual, float* y) {
  auto dx = DeviceTensor::upload(x, batch * rows * in, kT);
  auto dw = DeviceTensor::upload(w, out * in, kT);
  auto db = DeviceTensor::upload(bias, out, kT);
  auto dr = DeviceTensor::upload(residual, batch * rows * out, kT);
  DeviceTensor dy(batch * rows * out, kT);
  cuda::LinearParams p;
  p.x = dx.get(), p.w = dw.get(), p.bias = db.get(), p.residual = dr.get(), p.y = dy.get();
  p.batch = batch, p.rows = rows, p.in = in, p.out = out, p.dtype = kT;
  cuda::invoke_linear(p, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  const int64_t out_n = a.batch * a.q_len * a.out_stride;
  auto dq = DeviceTensor::upload(q, a.batch * a.q_len * a.q_stride, kT);
  auto dk = DeviceTensor::upload(k, a.batch * a.kv_len * a.kv_stride, kT);
  auto dv = DeviceTensor::upload(v, a.batch * a.kv_len * a.kv_stride, kT);
  // Elements of `out` between heads (out_stride > heads·head_dim) keep their values.
  auto dout = DeviceTensor::upload(out, out_n, kT);
  cuda::AttentionParams p;
  p.q = dq.get(), p.k = dk.get(), p.v = dv.get(), p.out = dout.get();
  p.batch = a.batch, p.heads = a.heads, p.q_len = a.q_len, p.kv_len = a.kv_len, p.head_dim = a.head_dim;
  p.q_stride = a.q_stride, p.kv_stride = a.kv_stride, p.out_stride = a.out_stride;
  p.scale = a.scale, p.causal = a.causal, p.kv_heads = a.kv_heads, p.dtype = kT;
  cuda::invoke_attention(p, nullptr);
  finish();
  dout.download(out);
}

template <DType kT>
void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps, const float* x,
                const float* gamma, const float* beta, bool silu, float* y) {
  auto dx = DeviceTensor::upload(x, batch * hw * channels, kT);
  auto dg = DeviceTensor::upload(gamma, channels, kT);
  auto db = DeviceTensor::upload(beta, channels, kT);
  DeviceTensor dy(batch * hw * channels, kT);
  cuda::GroupNormParams p;
  p.x = dx.get(), p.gamma = dg.get(), p.beta = db.get(), p.y = dy.get();
  p.batch = batch, p.hw = hw, p.channels = channels, p.groups = groups, p.eps = eps, p.silu = silu, p.dtype = kT;
  cuda::invoke_group_norm(p, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void layer_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, const float* beta,
                float* y) {
  auto dx = DeviceTensor::upload(x, rows * channels, kT);
  auto dg = DeviceTensor::upload(gamma, channels, kT);
  auto db = DeviceTensor::upload(beta, channels, kT);
  DeviceTensor dy(rows * channels, kT);
  cuda::LayerNormParams p;
  p.x = dx.get(), p.gamma = dg.get(), p.beta = db.get(), p.y = dy.get();
  p.rows = rows, p.channels = channels, p.eps = eps, p.dtype = kT;
  cuda::invoke_layer_norm(p, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void rms_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y) {
  auto dx = DeviceTensor::upload(x, rows * channels, kT);
  auto dg = DeviceTensor::upload(gamma, channels, kT);
  DeviceTensor dy(rows * channels, kT);
  cuda::RmsNormParams p;
  p.x = dx.get(), p.gamma = dg.get(), p.y = dy.get();
  p.rows = rows, p.channels = channels, p.eps = eps, p.dtype = kT;
  cuda::invoke_rms_norm(p, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void rope(const RopeArgs& a, const float* table, float* x) {
  auto dx = DeviceTensor::upload(x, a.rows * a.stride, kT);
  const size_t table_bytes = sizeof(float) * static_cast<size_t>(a.rows * a.head_dim);
  void* dt = nullptr;
  FARM_CHECK_CUDA(cudaMalloc(&dt, table_bytes > 0 ? table_bytes : 1));
  FARM_CHECK_CUDA(cudaMemcpy(dt, table, table_bytes, cudaMemcpyHostToDevice));
  cuda::invoke_rope(a.rows, a.heads, a.head_dim, a.stride, a.interleaved, static_cast<const float*>(dt), dx.get(), kT,
                    nullptr);
  finish();
  dx.download(x);
  FARM_CHECK_CUDA(cudaFree(dt));
}

template <DType kT>
void swiglu(int64_t rows, int64_t inner, const float* x, float* y) {
  auto dx = DeviceTensor::upload(x, rows * 2 * inner, kT);
  DeviceTensor dy(rows * inner, kT);
  cuda::invoke_swiglu(rows, inner, dx.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void modulate(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y) {
  auto dx = DeviceTensor::upload(x, batch * rows * channels, kT);
  auto ds = DeviceTensor::upload(scale, batch * channels, kT);
  DeviceTensor dy(batch * rows * channels, kT);
  cuda::invoke_modulate(batch, rows, channels, dx.get(), ds.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void gated_residual(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h) {
  auto dg = DeviceTensor::upload(gate, batch * channels, kT);
  auto dy = DeviceTensor::upload(y, batch * rows * channels, kT);
  auto dh = DeviceTensor::upload(h, batch * rows * channels, kT);
  cuda::invoke_gated_residual(batch, rows, channels, dg.get(), dy.get(), dh.get(), kT, nullptr);
  finish();
  dh.download(h);
}

template <DType kT, cuda::Activation kAct>
void activation(int64_t n, const float* x, float* y) {
  auto dx = DeviceTensor::upload(x, n, kT);
  DeviceTensor dy(n, kT);
  cuda::invoke_activation(kAct, n, dx.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void add(int64_t n, const float* a, const float* b, float* y) {
  auto da = DeviceTensor::upload(a, n, kT);
  auto db = DeviceTensor::upload(b, n, kT);
  DeviceTensor dy(n, kT);
  cuda::invoke_add(n, da.get(), db.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void geglu(int64_t rows, int64_t inner, const float* x, float* y) {
  auto dx = DeviceTensor::upload(x, rows * 2 * inner, kT);
  DeviceTensor dy(rows * inner, kT);
  cuda::invoke_geglu(rows, inner, dx.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x, float* y) {
  auto dx = DeviceTensor::upload(x, batch * h * w * c, kT);
  DeviceTensor dy(batch * 4 * h * w * c, kT);
  cuda::invoke_upsample_nearest2x(batch, h, w, c, dx.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void concat_channels(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb, const float* b, float* y) {
  auto da = DeviceTensor::upload(a, batch * hw * ca, kT);
  auto db = DeviceTensor::upload(b, batch * hw * cb, kT);
  DeviceTensor dy(batch * hw * (ca + cb), kT);
  cuda::invoke_concat_channels(batch, hw, ca, da.get(), cb, db.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x, float* y) {
  const int64_t n = batch * h * w * c;
  auto dx = DeviceTensor::upload(x, n, kT);
  DeviceTensor dy(n, kT);
  cuda::invoke_patchify(batch, h, w, c, p, inverse, dx.get(), dy.get(), kT, nullptr);
  finish();
  dy.download(y);
}

template <DType kT>
void timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                        float max_period, float* y) {
  float* dt = nullptr;  // timesteps stay fp32: 999 is not exact in fp16
  FARM_CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&dt), sizeof(float) * static_cast<size_t>(batch > 0 ? batch : 1)));
  FARM_CHECK_CUDA(cudaMemcpy(dt, t, sizeof(float) * static_cast<size_t>(batch), cudaMemcpyHostToDevice));
  DeviceTensor dy(batch * dim, kT);
  cuda::invoke_timestep_embedding(batch, dt, dim, flip_sin_to_cos, downscale_freq_shift, max_period, dy.get(), kT,
                                  nullptr);
  finish();
  dy.download(y);
  FARM_CHECK_CUDA(cudaFree(dt));
}

template <DType kT>
Ops make_table(const char* name) {
  Ops o{};
  o.name = name;
  o.conv2d = &conv2d<kT>;
  o.linear = &linear<kT>;
  o.attention = &attention<kT>;
  o.group_norm = &group_norm<kT>;
  o.layer_norm = &layer_norm<kT>;
  o.rms_norm = &rms_norm<kT>;
  o.rope = &rope<kT>;
  o.silu = &activation<kT, cuda::Activation::silu>;
  o.gelu = &activation<kT, cuda::Activation::gelu>;
  o.quick_gelu = &activation<kT, cuda::Activation::quick_gelu>;
  o.add = &add<kT>;
  o.geglu = &geglu<kT>;
  o.swiglu = &swiglu<kT>;
  o.modulate = &modulate<kT>;
  o.gated_residual = &gated_residual<kT>;
  o.upsample_nearest2x = &upsample_nearest2x<kT>;
  o.concat_channels = &concat_channels<kT>;
  o.patchify = &patchify<kT>;
  o.timestep_embedding = &timestep_embedding<kT>;
  return o;
}

const Ops& table(DType dtype, const char* f16_name, const char* bf16_name) {
  static const Ops f16 = make_table<DType::f16>(f16_name);
  static const Ops bf16 = make_table<DType::bf16>(bf16_name);
  return dtype == DType::f16 ? f16 : bf16;
}

}  // namespace

#if defined(FARM_CUDA_EMULATED)
const Ops& cuda_emu_staging_ops(DType dtype) { return table(dtype, "cuda_emu_f16", "cuda_emu_bf16"); }
#else
const Ops& cuda_staging_ops(DType dtype) { return table(dtype, "cuda_f16", "cuda_bf16"); }
#endif

}  // namespace farm::kernels
