// The host backend's class, for backends that are the host backend with a
// few ops replaced (cpu_bf16_backend.cpp). Models use kernels/backend.h.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "farm/core/error.h"
#include "kernels/backend.h"

namespace farm::kernels {

inline const float* opt(const Tensor* t) { return t && t->defined() ? t->ptr() : nullptr; }

class HostBackend : public Backend {
 public:
  explicit HostBackend(const Ops& ops) : ops_(ops) {}

  std::string name() const override { return ops_.name; }
  Device device() const override { return Device::host; }
  DType dtype() const override { return DType::f32; }

  // Uninitialised: every op writes its whole output.
  Tensor empty(Shape s) override { return Tensor::uninitialized(std::move(s)); }
  Tensor weight(Tensor host) override {
    FARM_ASSERT(host.on_host(), "weight from a ", device_name(host.device), " tensor");
    weight_bytes_ += static_cast<int64_t>(host.bytes());
    ++weight_tensors_;
    return host;
  }
  Tensor to_backend(const Tensor& t) override {
    FARM_ASSERT(t.on_host(), "a ", device_name(t.device), " tensor given to the host backend");
    return t;
  }
  Tensor to_host(const Tensor& t) override {
    FARM_ASSERT(t.on_host(), "a ", device_name(t.device), " tensor given to the host backend");
    return t;
  }

  std::vector<uint8_t> image_to_rgb8(const Tensor& image) override {
    std::vector<uint8_t> rgb(static_cast<size_t>(image.size()));
    // numpy's round: half to even, which nearbyint gives in the default mode.
    for (size_t i = 0; i < rgb.size(); ++i)
      rgb[i] = static_cast<uint8_t>(std::nearbyint(std::clamp(image.data[i] / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f));
    return rgb;
  }

  void conv2d(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual,
              Tensor& y) override {
    const auto timer = time_op("conv2d");
    ops_.conv2d(a, x.ptr(), w.ptr(), opt(bias), opt(residual), y.ptr());
  }
  void conv2d_upsampled2x(const Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor* bias,
                          Tensor& y) override {
    if (!ops_.conv2d_upsampled2x) return Backend::conv2d_upsampled2x(a, x, w, bias, y);
    const auto timer = time_op("conv2d");
    FARM_ASSERT(x.dim(1) * 2 == a.in_h && x.dim(2) * 2 == a.in_w, shape_str(x.shape), " upsampled to ", a.in_h, "x",
                a.in_w);
    ops_.conv2d_upsampled2x(a, x.ptr(), w.ptr(), opt(bias), y.ptr());
  }
  void linear(int64_t batch, int64_t rows, int64_t in, int64_t out, const Tensor& x, const Tensor& w,
              const Tensor* bias, const Tensor* residual, Tensor& y) override {
    const auto timer = time_op("linear");
    ops_.linear(batch, rows, in, out, x.ptr(), w.ptr(), opt(bias), opt(residual), y.ptr());
  }
  void linear_geglu(int64_t batch, int64_t rows, int64_t in, int64_t inner, const Tensor& x, const Tensor& w,
                    const Tensor* bias, Tensor& y) override {
    if (!ops_.linear_geglu) return Backend::linear_geglu(batch, rows, in, inner, x, w, bias, y);
    const auto timer = time_op("linear");
    FARM_ASSERT(w.dim(0) == 2 * inner && w.dim(1) == in, "GEGLU projection ", in, " -> 2 x ", inner, " with a weight ",
                shape_str(w.shape));
    ops_.linear_geglu(batch, rows, in, inner, x.ptr(), w.ptr(), opt(bias), y.ptr());
  }
  void attention(const AttentionArgs& a, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    const auto timer = time_op("attention");
    ops_.attention(a, q.ptr(), k.ptr(), v.ptr(), out.ptr());
  }
  void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps, const Tensor& x,
                  const Tensor& gamma, const Tensor& beta, bool silu, Tensor& y) override {
    const auto timer = time_op("group_norm");
    ops_.group_norm(batch, hw, channels, groups, eps, x.ptr(), gamma.ptr(), beta.ptr(), silu, y.ptr());
  }
  void layer_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma,
                  const Tensor& beta, Tensor& y) override {
    const auto timer = time_op("layer_norm");
    ops_.layer_norm(rows, channels, eps, x.ptr(), gamma.ptr(), beta.ptr(), y.ptr());
  }
  void rms_norm(int64_t rows, int64_t channels, float eps, const Tensor& x, const Tensor& gamma,
                Tensor& y) override {
    const auto timer = time_op("rms_norm");
    ops_.rms_norm(rows, channels, eps, x.ptr(), gamma.ptr(), y.ptr());
  }
  void rope(const RopeArgs& a, const Tensor& table, Tensor& x) override {
    const auto timer = time_op("rope");
    ops_.rope(a, table.ptr(), x.ptr());
  }
  void activation(Activation act, const Tensor& x, Tensor& y) override {
    const auto timer = time_op("activation");
    auto f = act == Activation::silu ? ops_.silu : act == Activation::gelu ? ops_.gelu : ops_.quick_gelu;
    f(x.size(), x.ptr(), y.ptr());
  }
  void add(const Tensor& a, const Tensor& b, Tensor& y) override {
    const auto timer = time_op("add");
    ops_.add(a.size(), a.ptr(), b.ptr(), y.ptr());
  }
  void geglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) override {
    const auto timer = time_op("geglu");
    ops_.geglu(rows, inner, x.ptr(), y.ptr());
  }
  void swiglu(int64_t rows, int64_t inner, const Tensor& x, Tensor& y) override {
    const auto timer = time_op("swiglu");
    ops_.swiglu(rows, inner, x.ptr(), y.ptr());
  }
  void modulate(const Tensor& x, const Tensor& scale, Tensor& y) override {
    const auto timer = time_op("modulate");
    const int64_t B = x.dim(0), C = x.dim(-1);
    ops_.modulate(B, x.size() / (B * C), C, x.ptr(), scale.ptr(), y.ptr());
  }
  void gated_residual(const Tensor& gate, const Tensor& y, Tensor& h) override {
    const auto timer = time_op("gated_residual");
    const int64_t B = h.dim(0), C = h.dim(-1);
    ops_.gated_residual(B, h.size() / (B * C), C, gate.ptr(), y.ptr(), h.ptr());
  }
  void upsample_nearest(const Tensor& x, Tensor& y) override {
    const auto timer = time_op("upsample_nearest");
    const int64_t B = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), oh = y.dim(1), ow = y.dim(2);
    if (oh == 2 * H && ow == 2 * W) return ops_.upsample_nearest2x(B, H, W, C, x.ptr(), y.ptr());
    // torch's nearest: source index floor(i · in/out), in fp32 as torch computes it.
    const float sh = static_cast<float>(H) / static_cast<float>(oh), sw = static_cast<float>(W) / static_cast<float>(ow);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t si = std::min(static_cast<int64_t>(std::floor(static_cast<float>(i) * sh)), H - 1);
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t sj = std::min(static_cast<int64_t>(std::floor(static_cast<float>(j) * sw)), W - 1);
          std::copy_n(x.ptr() + ((b * H + si) * W + sj) * C, C, y.ptr() + ((b * oh + i) * ow + j) * C);
        }
      }
  }
  void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) override {
    const auto timer = time_op("concat_channels");
    const int64_t B = a.dim(0), ca = a.dim(-1), cb = b.dim(-1);
    ops_.concat_channels(B, a.size() / (B * ca), ca, a.ptr(), cb, b.ptr(), y.ptr());
  }
  void patch_move(int64_t p, int64_t h, int64_t w, int64_t c, bool inverse, const Tensor& x, Tensor& y) override {
    const auto timer = time_op("patchify");
    ops_.patchify(x.dim(0), h, w, c, p, inverse, x.ptr(), y.ptr());
  }
  void timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                          float max_period, Tensor& y) override {
    const auto timer = time_op("timestep_embedding");
    ops_.timestep_embedding(t.size(), t.ptr(), dim, flip_sin_to_cos, downscale_freq_shift, max_period, y.ptr());
  }
  void add_channel_bias(Tensor& h, const Tensor& v) override {
    const auto timer = time_op("add_channel_bias");
    const int64_t B = h.dim(0), C = h.dim(-1), hw = h.size() / (B * C);
    FARM_ASSERT(v.size() == B * C, shape_str(v.shape), " onto ", shape_str(h.shape));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < hw; ++i)
        for (int64_t c = 0; c < C; ++c) h.data[(b * hw + i) * C + c] += v.data[b * C + c];
  }
  void embed_tokens(const std::vector<int64_t>& ids, int64_t batch, const Tensor& token_table,
                    const Tensor& position_table, Tensor& y) override {
    const auto timer = time_op("embed_tokens");
    const int64_t D = token_table.dim(1), L = static_cast<int64_t>(ids.size()) / batch;
    const bool positions = position_table.defined();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < L; ++t) {
        const int64_t id = ids[b * L + t];
        for (int64_t d = 0; d < D; ++d)
          y.data[(b * L + t) * D + d] = token_table.data[id * D + d] + (positions ? position_table.data[t * D + d] : 0.0f);
      }
  }

  std::map<std::string, std::pair<double, int64_t>> op_times() override { return times_; }

 protected:
  // FARM_PROFILE_OPS=1: wall time per op name, summed (a host op's time is
  // its call's: nothing is queued).
  class OpTimer {
   public:
    explicit OpTimer(std::pair<double, int64_t>* slot)
        : slot_(slot), start_(slot ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}) {}
    OpTimer(const OpTimer&) = delete;
    OpTimer& operator=(const OpTimer&) = delete;
    ~OpTimer() {
      if (!slot_) return;
      slot_->first += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
      ++slot_->second;
    }

   private:
    std::pair<double, int64_t>* slot_;
    std::chrono::steady_clock::time_point start_;
  };
  OpTimer time_op(const char* name) { return OpTimer(profile_ ? &times_[name] : nullptr); }

  const Ops& ops_;
  std::map<std::string, std::pair<double, int64_t>> times_;
  bool profile_ = [] {
    const char* p = std::getenv("FARM_PROFILE_OPS");
    return p && *p && *p != '0';
  }();
};

}  // namespace farm::kernels
