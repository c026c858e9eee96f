#include "kernels/check/device_case.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/bits16.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/conv2d_cudnn.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/norm.h"
#include "kernels/check/precision_bound.h"

namespace farm::kernels::testing {
namespace {

using cuda::DType;
using cuda::from_bits;
using cuda::to_bits;

std::vector<const float*> pointers(const std::vector<std::vector<float>>& v) {
  std::vector<const float*> p;
  for (const auto& t : v) p.push_back(t.data());
  return p;
}

std::vector<float> run(const Ops& ops, const KernelCase& c, const std::vector<std::vector<float>>& in) {
  std::vector<float> y(static_cast<size_t>(output_per_sample(c) * c.batch), 0.0f);
  run_case(ops, c, c.batch, pointers(in), y.data());
  return y;
}

}  // namespace

std::string cuda_device_problem() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
  if (n == 0) return "cudaGetDeviceCount: 0 devices";
  return "";
}

DeviceCase::DeviceCase(const KernelCase& c, DType dtype, const std::vector<std::vector<float>>& inputs)
    : c_(c), dtype_(dtype) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    void* d = nullptr;
    if (!input_is_rounded(c, i)) {  // fp32 timesteps, RoPE tables
      const size_t bytes = inputs[i].size() * sizeof(float);
      FARM_CHECK_CUDA(cudaMalloc(&d, bytes > 0 ? bytes : 1));
      FARM_CHECK_CUDA(cudaMemcpy(d, inputs[i].data(), bytes, cudaMemcpyHostToDevice));
      input_bytes_.push_back(bytes);
    } else {
      std::vector<uint16_t> bits(inputs[i].size());
      for (size_t j = 0; j < bits.size(); ++j) bits[j] = to_bits(inputs[i][j], dtype);
      const size_t bytes = bits.size() * 2;
      FARM_CHECK_CUDA(cudaMalloc(&d, bytes > 0 ? bytes : 1));
      FARM_CHECK_CUDA(cudaMemcpy(d, bits.data(), bytes, cudaMemcpyHostToDevice));
      input_bytes_.push_back(bytes);
    }
    inputs_.push_back(d);
  }
  out_n_ = output_per_sample(c) * c.batch;
  FARM_CHECK_CUDA(cudaMalloc(&out_, static_cast<size_t>(out_n_ > 0 ? out_n_ : 1) * 2));
  clear_output(nullptr);
  FARM_CHECK_CUDA(cudaDeviceSynchronize());
}

DeviceCase::~DeviceCase() {
  for (void* p : inputs_) cudaFree(p);
  cudaFree(out_);
}

void DeviceCase::clear_output(cudaStream_t stream) {
  // All-zero bits are +0 in fp16 and bf16.
  FARM_CHECK_CUDA(cudaMemsetAsync(out_, 0, static_cast<size_t>(out_n_) * 2, stream));
}

std::vector<float> DeviceCase::download() const {
  FARM_CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<uint16_t> bits(static_cast<size_t>(out_n_));
  FARM_CHECK_CUDA(cudaMemcpy(bits.data(), out_, bits.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<float> y(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) y[i] = from_bits(bits[i], dtype_);
  return y;
}

double DeviceCase::bytes_moved() const {
  double b = static_cast<double>(out_n_) * 2.0;
  for (size_t n : input_bytes_) b += static_cast<double>(n);
  return b;
}

std::string DeviceCase::launch(cudaStream_t stream, cuda::ConvPath path) {
  const KernelCase& c = c_;
  size_t next = 0;
  auto arg = [&]() -> const void* { return inputs_[next++]; };
  switch (c.op) {
    case OpKind::conv2d: {
      cuda::Conv2dParams p;
      p.x = arg();
      p.w = arg();
      p.bias = c.bias ? arg() : nullptr;
      p.residual = c.residual ? arg() : nullptr;
      p.y = out_;
      p.batch = c.batch, p.in_h = c.conv.in_h, p.in_w = c.conv.in_w, p.in_c = c.conv.in_c, p.out_c = c.conv.out_c;
      p.kernel = c.conv.kernel, p.stride = c.conv.stride, p.pad = c.conv.pad, p.dtype = dtype_;
      if (path == cuda::ConvPath::cudnn) return cuda::invoke_conv2d_cudnn(p, stream);
      cuda::invoke_conv2d(p, stream);
      return "";
    }
    case OpKind::linear: {
      cuda::LinearParams p;
      p.x = arg();
      p.w = arg();
      p.bias = c.bias ? arg() : nullptr;
      p.residual = c.residual ? arg() : nullptr;
      p.y = out_;
      p.batch = c.batch, p.rows = c.rows, p.in = c.in, p.out = c.out, p.dtype = dtype_;
      cuda::invoke_linear(p, stream);
      return "";
    }
    case OpKind::attention: {
      cuda::AttentionParams p;
      p.q = inputs_[0], p.k = inputs_[1], p.v = inputs_[2], p.out = out_;
      p.batch = c.batch, p.heads = c.attn.heads, p.q_len = c.attn.q_len, p.kv_len = c.attn.kv_len;
      p.head_dim = c.attn.head_dim, p.q_stride = c.attn.q_stride, p.kv_stride = c.attn.kv_stride;
      p.out_stride = c.attn.out_stride, p.scale = c.attn.scale, p.causal = c.attn.causal, p.dtype = dtype_;
      p.kv_heads = c.attn.kv_heads;
      cuda::invoke_attention(p, stream);
      return "";
    }
    case OpKind::group_norm: {
      cuda::GroupNormParams p;
      p.x = inputs_[0], p.gamma = inputs_[1], p.beta = inputs_[2], p.y = out_;
      p.batch = c.batch, p.hw = c.hw, p.channels = c.channels, p.groups = c.groups, p.eps = c.eps;
      p.silu = c.silu, p.dtype = dtype_;
      cuda::invoke_group_norm(p, stream);
      return "";
    }
    case OpKind::layer_norm: {
      cuda::LayerNormParams p;
      p.x = inputs_[0], p.gamma = inputs_[1], p.beta = inputs_[2], p.y = out_;
      p.rows = c.batch * c.rows, p.channels = c.channels, p.eps = c.eps, p.dtype = dtype_;
      cuda::invoke_layer_norm(p, stream);
      return "";
    }
    case OpKind::rms_norm: {
      cuda::RmsNormParams p;
      p.x = inputs_[0], p.gamma = inputs_[1], p.y = out_;
      p.rows = c.batch * c.rows, p.channels = c.channels, p.eps = c.eps, p.dtype = dtype_;
      cuda::invoke_rms_norm(p, stream);
      return "";
    }
    case OpKind::rope:  // in place: on a copy of x in the output
      FARM_CHECK_CUDA(cudaMemcpyAsync(out_, inputs_[1], static_cast<size_t>(out_n_) * 2, cudaMemcpyDeviceToDevice,
                                      stream));
      cuda::invoke_rope(c.batch * c.rope.rows, c.rope.heads, c.rope.head_dim, c.rope.stride, c.rope.interleaved,
                        static_cast<const float*>(inputs_[0]), out_, dtype_, stream);
      return "";
    case OpKind::silu:
      cuda::invoke_activation(cuda::Activation::silu, c.batch * c.rows, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::gelu:
      cuda::invoke_activation(cuda::Activation::gelu, c.batch * c.rows, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::quick_gelu:
      cuda::invoke_activation(cuda::Activation::quick_gelu, c.batch * c.rows, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::add:
      cuda::invoke_add(c.batch * c.rows, inputs_[0], inputs_[1], out_, dtype_, stream);
      return "";
    case OpKind::geglu:
      cuda::invoke_geglu(c.batch * c.rows, c.inner, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::swiglu:
      cuda::invoke_swiglu(c.batch * c.rows, c.inner, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::modulate:
      cuda::invoke_modulate(c.batch, c.rows, c.channels, inputs_[0], inputs_[1], out_, dtype_, stream);
      return "";
    case OpKind::gated_residual:  // in place: on a copy of h in the output
      FARM_CHECK_CUDA(cudaMemcpyAsync(out_, inputs_[2], static_cast<size_t>(out_n_) * 2, cudaMemcpyDeviceToDevice,
                                      stream));
      cuda::invoke_gated_residual(c.batch, c.rows, c.channels, inputs_[0], inputs_[1], out_, dtype_, stream);
      return "";
    case OpKind::upsample_nearest2x:
      cuda::invoke_upsample_nearest2x(c.batch, c.h, c.w, c.channels, inputs_[0], out_, dtype_, stream);
      return "";
    case OpKind::concat_channels:
      cuda::invoke_concat_channels(c.batch, c.hw, c.ca, inputs_[0], c.cb, inputs_[1], out_, dtype_, stream);
      return "";
    case OpKind::timestep_embedding:
      cuda::invoke_timestep_embedding(c.batch, static_cast<const float*>(inputs_[0]), c.dim, c.flip_sin_to_cos,
                                      c.shift, c.max_period, out_, dtype_, stream);
      return "";
    case OpKind::patchify:
      cuda::invoke_patchify(c.batch, c.h, c.w, c.channels, c.patch, c.inverse, inputs_[0], out_, dtype_, stream);
      return "";
  }
  return "unknown op";
}

Reference reference_for(const Ops& oracle, const KernelCase& c, DType dtype,
                        const std::vector<std::vector<float>>& inputs) {
  Reference r;
  r.want = run(oracle, c, inputs);
  auto rounded = inputs;
  for (size_t i = 0; i < rounded.size(); ++i)
    if (input_is_rounded(c, i)) round_all(rounded[i], dtype);
  r.baseline = run(oracle, c, rounded);
  round_all(r.baseline, dtype);
  return r;
}

}  // namespace farm::kernels::testing
