// Inputs, dispatch and cost figures for a KernelCase.
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "kernels/check/kernel_cases.h"

namespace farm::kernels::testing {

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::conv2d:
      return "conv2d";
    case OpKind::linear:
      return "linear";
    case OpKind::attention:
      return "attention";
    case OpKind::group_norm:
      return "group_norm";
    case OpKind::layer_norm:
      return "layer_norm";
    case OpKind::rms_norm:
      return "rms_norm";
    case OpKind::rope:
      return "rope";
    case OpKind::silu:
      return "silu";
    case OpKind::gelu:
      return "gelu";
    case OpKind::quick_gelu:
      return "quick_gelu";
    case OpKind::add:
      return "add";
    case OpKind::geglu:
      return "geglu";
    case OpKind::swiglu:
      return "swiglu";
    case OpKind::modulate:
      return "modulate";
    case OpKind::gated_residual:
      return "gated_residual";
    case OpKind::upsample_nearest2x:
      return "upsample_nearest2x";
    case OpKind::concat_channels:
      return "concat_channels";
    case OpKind::timestep_embedding:
      return "timestep_embedding";
    case OpKind::patchify:
      return "patchify";
  }
  return "?";
}

namespace {

Conv2dArgs conv_args(const KernelCase& c, int64_t batch) {
  Conv2dArgs a = c.conv;
  a.batch = batch;
  return a;
}

AttentionArgs attn_args(const KernelCase& c, int64_t batch) {
  AttentionArgs a = c.attn;
  a.batch = batch;
  return a;
}

TensorSpec shared(std::string name, int64_t n, float scale = 1.0f, float offset = 0.0f) {
  return {std::move(name), n, false, scale, offset};
}

TensorSpec batched(std::string name, int64_t n, float scale = 1.0f, float offset = 0.0f) {
  return {std::move(name), n, true, scale, offset};
}

}  // namespace

std::vector<TensorSpec> input_specs(const KernelCase& c) {
  std::vector<TensorSpec> s;
  switch (c.op) {
    case OpKind::conv2d: {
      const Conv2dArgs& a = c.conv;
      const int64_t fan_in = int64_t{a.kernel} * a.kernel * a.in_c;
      s.push_back(batched("x", a.in_h * a.in_w * a.in_c));
      s.push_back(shared("w", a.out_c * fan_in, 1.0f / std::sqrt(static_cast<float>(fan_in))));
      if (c.bias) s.push_back(shared("bias", a.out_c));
      if (c.residual) s.push_back(batched("residual", a.out_h() * a.out_w() * a.out_c));
      break;
    }
    case OpKind::linear:
      s.push_back(batched("x", c.rows * c.in));
      s.push_back(shared("w", c.out * c.in, 1.0f / std::sqrt(static_cast<float>(c.in))));
      if (c.bias) s.push_back(shared("bias", c.out));
      if (c.residual) s.push_back(batched("residual", c.rows * c.out));
      break;
    case OpKind::attention:
      s.push_back(batched("q", c.attn.q_len * c.attn.q_stride, c.amplitude));
      s.push_back(batched("k", c.attn.kv_len * c.attn.kv_stride, c.amplitude));
      s.push_back(batched("v", c.attn.kv_len * c.attn.kv_stride));
      break;
    case OpKind::group_norm:
      s.push_back(batched("x", c.hw * c.channels, 2.0f, 0.5f));
      s.push_back(shared("gamma", c.channels, 0.5f, 1.0f));
      s.push_back(shared("beta", c.channels, 0.5f));
      break;
    case OpKind::layer_norm:
      s.push_back(batched("x", c.rows * c.channels, 2.0f, 0.5f));
      s.push_back(shared("gamma", c.channels, 0.5f, 1.0f));
      s.push_back(shared("beta", c.channels, 0.5f));
      break;
    case OpKind::rms_norm:
      s.push_back(batched("x", c.rows * c.channels, 2.0f, 0.5f));
      s.push_back(shared("gamma", c.channels, 0.5f, 1.0f));
      break;
    case OpKind::rope:
      // Random (cos, sin) pairs are not unit vectors; the op does not care.
      s.push_back(batched("table", c.rope.rows * c.rope.head_dim));
      s.push_back(batched("x", c.rope.rows * c.rope.stride));
      break;
    case OpKind::silu:
    case OpKind::gelu:
    case OpKind::quick_gelu:
      s.push_back(batched("x", c.rows, 8.0f));
      break;
    case OpKind::add:
      s.push_back(batched("a", c.rows));
      s.push_back(batched("b", c.rows));
      break;
    case OpKind::geglu:
    case OpKind::swiglu:
      s.push_back(batched("x", c.rows * 2 * c.inner, 3.0f));
      break;
    case OpKind::modulate:
      s.push_back(batched("x", c.rows * c.channels, 2.0f));
      s.push_back(batched("scale", c.channels));
      break;
    case OpKind::gated_residual:
      s.push_back(batched("gate", c.channels, 2.0f));
      s.push_back(batched("x", c.rows * c.channels));  // the branch's output
      s.push_back(batched("h", c.rows * c.channels));
      break;
    case OpKind::upsample_nearest2x:
      s.push_back(batched("x", c.h * c.w * c.channels));
      break;
    case OpKind::concat_channels:
      s.push_back(batched("a", c.hw * c.ca));
      s.push_back(batched("b", c.hw * c.cb));
      break;
    case OpKind::timestep_embedding:
      s.push_back(batched("t", 1, 500.0f, 500.0f));
      break;
    case OpKind::patchify:
      s.push_back(batched(c.inverse ? "patches" : "image", c.h * c.w * c.channels));
      break;
  }
  return s;
}

int64_t output_per_sample(const KernelCase& c) {
  switch (c.op) {
    case OpKind::conv2d:
      return c.conv.out_h() * c.conv.out_w() * c.conv.out_c;
    case OpKind::linear:
      return c.rows * c.out;
    case OpKind::attention:
      return c.attn.q_len * c.attn.out_stride;
    case OpKind::group_norm:
      return c.hw * c.channels;
    case OpKind::layer_norm:
    case OpKind::rms_norm:
      return c.rows * c.channels;
    case OpKind::rope:
      return c.rope.rows * c.rope.stride;
    case OpKind::silu:
    case OpKind::gelu:
    case OpKind::quick_gelu:
    case OpKind::add:
      return c.rows;
    case OpKind::geglu:
    case OpKind::swiglu:
      return c.rows * c.inner;
    case OpKind::modulate:
    case OpKind::gated_residual:
      return c.rows * c.channels;
    case OpKind::upsample_nearest2x:
      return 4 * c.h * c.w * c.channels;
    case OpKind::concat_channels:
      return c.hw * (c.ca + c.cb);
    case OpKind::timestep_embedding:
      return c.dim;
    case OpKind::patchify:
      return c.h * c.w * c.channels;
  }
  return 0;
}

void run_case(const Ops& ops, const KernelCase& c, int64_t batch,
              const std::vector<const float*>& in, float* y) {
  if (in.size() != input_specs(c).size()) throw std::logic_error("run_case: wrong input count");
  size_t next = 0;
  auto arg = [&] { return in[next++]; };
  switch (c.op) {
    case OpKind::conv2d: {
      const float* x = arg();
      const float* w = arg();
      const float* bias = c.bias ? arg() : nullptr;
      const float* residual = c.residual ? arg() : nullptr;
      ops.conv2d(conv_args(c, batch), x, w, bias, residual, y);
      break;
    }
    case OpKind::linear: {
      const float* x = arg();
      const float* w = arg();
      const float* bias = c.bias ? arg() : nullptr;
      const float* residual = c.residual ? arg() : nullptr;
      ops.linear(batch, c.rows, c.in, c.out, x, w, bias, residual, y);
      break;
    }
    case OpKind::attention:
      ops.attention(attn_args(c, batch), in[0], in[1], in[2], y);
      break;
    case OpKind::group_norm:
      ops.group_norm(batch, c.hw, c.channels, c.groups, c.eps, in[0], in[1], in[2], c.silu, y);
      break;
    case OpKind::layer_norm:
      ops.layer_norm(batch * c.rows, c.channels, c.eps, in[0], in[1], in[2], y);
      break;
    case OpKind::rms_norm:
      ops.rms_norm(batch * c.rows, c.channels, c.eps, in[0], in[1], y);
      break;
    case OpKind::rope: {  // in place: on a copy of x in y
      RopeArgs a = c.rope;
      a.rows = batch * c.rope.rows;
      std::copy(in[1], in[1] + a.rows * a.stride, y);
      ops.rope(a, in[0], y);
      break;
    }
    case OpKind::silu:
      ops.silu(batch * c.rows, in[0], y);
      break;
    case OpKind::gelu:
      ops.gelu(batch * c.rows, in[0], y);
      break;
    case OpKind::quick_gelu:
      ops.quick_gelu(batch * c.rows, in[0], y);
      break;
    case OpKind::add:
      ops.add(batch * c.rows, in[0], in[1], y);
      break;
    case OpKind::geglu:
      ops.geglu(batch * c.rows, c.inner, in[0], y);
      break;
    case OpKind::swiglu:
      ops.swiglu(batch * c.rows, c.inner, in[0], y);
      break;
    case OpKind::modulate:
      ops.modulate(batch, c.rows, c.channels, in[0], in[1], y);
      break;
    case OpKind::gated_residual:  // in place: on a copy of h in y
      std::copy(in[2], in[2] + batch * c.rows * c.channels, y);
      ops.gated_residual(batch, c.rows, c.channels, in[0], in[1], y);
      break;
    case OpKind::upsample_nearest2x:
      ops.upsample_nearest2x(batch, c.h, c.w, c.channels, in[0], y);
      break;
    case OpKind::concat_channels:
      ops.concat_channels(batch, c.hw, c.ca, in[0], c.cb, in[1], y);
      break;
    case OpKind::timestep_embedding:
      ops.timestep_embedding(batch, in[0], c.dim, c.flip_sin_to_cos, c.shift, c.max_period, y);
      break;
    case OpKind::patchify:
      ops.patchify(batch, c.h, c.w, c.channels, c.patch, c.inverse, in[0], y);
      break;
  }
}

std::vector<std::vector<float>> random_inputs(const KernelCase& c, int64_t batch, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<std::vector<float>> out;
  for (const TensorSpec& s : input_specs(c)) {
    std::vector<float> t(static_cast<size_t>(s.per_sample * (s.batched ? batch : 1)));
    for (float& v : t) v = s.offset + s.scale * u(rng);
    out.push_back(std::move(t));
  }
  return out;
}

double flops(const KernelCase& c, int64_t batch) {
  const double b = static_cast<double>(batch);
  switch (c.op) {
    case OpKind::conv2d: {
      const Conv2dArgs& a = c.conv;
      return 2.0 * b * static_cast<double>(a.out_h() * a.out_w() * a.out_c) *
             static_cast<double>(int64_t{a.kernel} * a.kernel * a.in_c);
    }
    case OpKind::linear:
      return 2.0 * b * static_cast<double>(c.rows) * static_cast<double>(c.in * c.out);
    case OpKind::attention:  // q·k^T and p·v (grouped-query heads count as heads)
      return 4.0 * b * static_cast<double>(c.attn.heads * c.attn.q_len) *
             static_cast<double>(c.attn.kv_len * c.attn.head_dim);
    default:
      return 0.0;
  }
}

double bytes_moved(const KernelCase& c, int64_t batch) {
  double elements = static_cast<double>(output_per_sample(c) * batch);
  for (const TensorSpec& s : input_specs(c))
    elements += static_cast<double>(s.per_sample * (s.batched ? batch : 1));
  return 4.0 * elements;
}

}  // namespace farm::kernels::testing
