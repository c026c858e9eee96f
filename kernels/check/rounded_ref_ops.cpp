#include "kernels/check/rounded_ref_ops.h"

#include <vector>

#include "kernels/ref/ref_ops.h"
#include "kernels/check/precision_bound.h"

namespace farm::kernels::testing {
namespace {

using cuda::DType;

// A rounded copy of p[0, n); null stays null (`data()` of an empty vector
// would not be).
template <DType kT>
struct Rounded {
  Rounded(const float* p, int64_t n) : null(p == nullptr) {
    if (null) return;
    v.assign(p, p + n);
    round_all(v, kT);
  }
  const float* get() const { return null ? nullptr : v.data(); }
  std::vector<float> v;
  bool null;
};

template <DType kT>
void round_out(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = round_to(y[i], kT);
}

template <DType kT>
void conv2d(const Conv2dArgs& a, const float* x, const float* w, const float* bias, const float* residual, float* y) {
  const int64_t y_n = a.batch * a.out_h() * a.out_w() * a.out_c;
  Rounded<kT> rx(x, a.batch * a.in_h * a.in_w * a.in_c), rw(w, a.out_c * a.kernel * a.kernel * a.in_c),
      rb(bias, a.out_c), rr(residual, y_n);
  ref::conv2d(a, rx.get(), rw.get(), rb.get(), rr.get(), y);
  round_out<kT>(y, y_n);
}

template <DType kT>
void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const float* x, const float* w, const float* bias,
            const float* residual, float* y) {
  Rounded<kT> rx(x, batch * rows * in), rw(w, out * in), rb(bias, out), rr(residual, batch * rows * out);
  ref::linear(batch, rows, in, out, rx.get(), rw.get(), rb.get(), rr.get(), y);
  round_out<kT>(y, batch * rows * out);
}

template <DType kT>
void attention(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out) {
  Rounded<kT> rq(q, a.batch * a.q_len * a.q_stride), rk(k, a.batch * a.kv_len * a.kv_stride),
      rv(v, a.batch * a.kv_len * a.kv_stride);
  ref::attention(a, rq.get(), rk.get(), rv.get(), out);
  round_out<kT>(out, a.batch * a.q_len * a.out_stride);
}

template <DType kT>
void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps, const float* x,
                const float* gamma, const float* beta, bool silu, float* y) {
  Rounded<kT> rx(x, batch * hw * channels), rg(gamma, channels), rb(beta, channels);
  ref::group_norm(batch, hw, channels, groups, eps, rx.get(), rg.get(), rb.get(), silu, y);
  round_out<kT>(y, batch * hw * channels);
}

template <DType kT>
void layer_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, const float* beta,
                float* y) {
  Rounded<kT> rx(x, rows * channels), rg(gamma, channels), rb(beta, channels);
  ref::layer_norm(rows, channels, eps, rx.get(), rg.get(), rb.get(), y);
  round_out<kT>(y, rows * channels);
}

template <DType kT>
void rms_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y) {
  Rounded<kT> rx(x, rows * channels), rg(gamma, channels);
  ref::rms_norm(rows, channels, eps, rx.get(), rg.get(), y);
  round_out<kT>(y, rows * channels);
}

// The (cos, sin) table stays fp32, as on the device.
template <DType kT>
void rope(const RopeArgs& a, const float* table, float* x) {
  round_out<kT>(x, a.rows * a.stride);
  ref::rope(a, table, x);
  round_out<kT>(x, a.rows * a.stride);
}

template <DType kT>
void swiglu(int64_t rows, int64_t inner, const float* x, float* y) {
  Rounded<kT> rx(x, rows * 2 * inner);
  ref::swiglu(rows, inner, rx.get(), y);
  round_out<kT>(y, rows * inner);
}

template <DType kT>
void modulate(int64_t batch, int64_t rows, int64_t channels, const float* x, const float* scale, float* y) {
  Rounded<kT> rx(x, batch * rows * channels), rs(scale, batch * channels);
  ref::modulate(batch, rows, channels, rx.get(), rs.get(), y);
  round_out<kT>(y, batch * rows * channels);
}

template <DType kT>
void gated_residual(int64_t batch, int64_t rows, int64_t channels, const float* gate, const float* y, float* h) {
  Rounded<kT> rg(gate, batch * channels), ry(y, batch * rows * channels);
  round_out<kT>(h, batch * rows * channels);
  ref::gated_residual(batch, rows, channels, rg.get(), ry.get(), h);
  round_out<kT>(h, batch * rows * channels);
}

template <DType kT, void (*kOp)(int64_t, const float*, float*)>
void unary(int64_t n, const float* x, float* y) {
  Rounded<kT> rx(x, n);
  kOp(n, rx.get(), y);
  round_out<kT>(y, n);
}

template <DType kT>
void add(int64_t n, const float* a, const float* b, float* y) {
  Rounded<kT> ra(a, n), rb(b, n);
  ref::add(n, ra.get(), rb.get(), y);
  round_out<kT>(y, n);
}

template <DType kT>
void geglu(int64_t rows, int64_t inner, const float* x, float* y) {
  Rounded<kT> rx(x, rows * 2 * inner);
  ref::geglu(rows, inner, rx.get(), y);
  round_out<kT>(y, rows * inner);
}

template <DType kT>
void upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const float* x, float* y) {
  Rounded<kT> rx(x, batch * h * w * c);
  ref::upsample_nearest2x(batch, h, w, c, rx.get(), y);
}

template <DType kT>
void concat_channels(int64_t batch, int64_t hw, int64_t ca, const float* a, int64_t cb, const float* b, float* y) {
  Rounded<kT> ra(a, batch * hw * ca), rb(b, batch * hw * cb);
  ref::concat_channels(batch, hw, ca, ra.get(), cb, rb.get(), y);
}

template <DType kT>
void patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const float* x, float* y) {
  Rounded<kT> rx(x, batch * h * w * c);
  ref::patchify(batch, h, w, c, p, inverse, rx.get(), y);
}

template <DType kT>
void timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip, float shift, float max_period,
                        float* y) {
  ref::timestep_embedding(batch, t, dim, flip, shift, max_period, y);
  round_out<kT>(y, batch * dim);
}

template <DType kT>
Ops make(const char* name) {
  Ops o{};
  o.name = name;
  o.conv2d = &conv2d<kT>;
  o.linear = &linear<kT>;
  o.attention = &attention<kT>;
  o.group_norm = &group_norm<kT>;
  o.layer_norm = &layer_norm<kT>;
  o.rms_norm = &rms_norm<kT>;
  o.rope = &rope<kT>;
  o.silu = &unary<kT, &ref::silu>;
  o.gelu = &unary<kT, &ref::gelu>;
  o.quick_gelu = &unary<kT, &ref::quick_gelu>;
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

}  // namespace

const Ops& rounded_ref_ops(DType dtype) {
  static const Ops f16 = make<DType::f16>("ref_rounded_f16");
  static const Ops bf16 = make<DType::bf16>("ref_rounded_bf16");
  return dtype == DType::f16 ? f16 : bf16;
}

}  // namespace farm::kernels::testing
