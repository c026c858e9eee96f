#include "farm/core/tensor.h"

#include <bit>
#include <cstring>

#include "farm/core/error.h"

namespace farm {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::i64: return 8;
  }
  return 0;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

Tensor::Tensor(Shape s, HostValues d) : shape(std::move(s)), data(std::move(d)) {
  FARM_ASSERT(numel(shape) == static_cast<int64_t>(data.size()), shape_str(shape), " vs ", data.size());
}

Tensor::Tensor(Shape s, const std::vector<float>& d) : Tensor(std::move(s), HostValues(d.begin(), d.end())) {}

Tensor Tensor::uninitialized(Shape s) {
  Tensor t;
  t.data.resize(static_cast<size_t>(numel(s)));
  t.shape = std::move(s);
  return t;
}

const char* device_name(Device d) { return d == Device::host ? "host" : "cuda"; }

DeviceBuffer::DeviceBuffer(std::shared_ptr<DeviceAllocator> owner, size_t bytes)
    : owner_(std::move(owner)), bytes_(bytes), p_(owner_->allocate(bytes)) {}

DeviceBuffer::~DeviceBuffer() { owner_->release(p_, bytes_); }

Tensor Tensor::on_device(Shape s, DType dtype, Device device, const std::shared_ptr<DeviceAllocator>& alloc) {
  FARM_ASSERT(device != Device::host, "on_device with the host");
  Tensor t;
  t.shape = std::move(s);
  t.dtype = dtype;
  t.device = device;
  t.buffer = std::make_shared<DeviceBuffer>(alloc, static_cast<size_t>(numel(t.shape)) * dtype_size(dtype));
  return t;
}

float* Tensor::ptr() {
  FARM_ASSERT(on_host() && dtype == DType::f32, "host fp32 pointer of a ", device_name(device), " ",
              dtype_name(dtype), " tensor ", shape_str(shape));
  return data.data();
}

const float* Tensor::ptr() const { return const_cast<Tensor*>(this)->ptr(); }

void* Tensor::device_ptr() const {
  FARM_ASSERT(!on_host() && buffer, "device pointer of a host tensor ", shape_str(shape));
  return static_cast<char*>(buffer->get()) + offset;
}

Tensor Tensor::reshaped(Shape s) && {
  FARM_ASSERT(numel(s) == size(), shape_str(shape), " -> ", shape_str(s));
  if (on_host()) return Tensor(std::move(s), std::move(data));
  Tensor t = std::move(*this);
  t.shape = std::move(s);
  return t;
}

Tensor Tensor::slice(int64_t first, Shape s) const {
  FARM_ASSERT(!on_host() && first >= 0 && first + numel(s) <= size(), "slice ", first, " + ", shape_str(s), " of ",
              shape_str(shape));
  Tensor t;
  t.shape = std::move(s);
  t.dtype = dtype;
  t.device = device;
  t.buffer = buffer;
  t.offset = offset + static_cast<size_t>(first) * dtype_size(dtype);
  return t;
}

Tensor nchw_to_nhwc(const Tensor& t) {
  FARM_ASSERT(t.shape.size() == 4, shape_str(t.shape));
  const int64_t B = t.shape[0], C = t.shape[1], H = t.shape[2], W = t.shape[3];
  Tensor r({B, H, W, C});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) r.data[(b * H * W + i) * C + c] = t.data[(b * C + c) * H * W + i];
  return r;
}

Tensor nhwc_to_nchw(const Tensor& t) {
  FARM_ASSERT(t.shape.size() == 4, shape_str(t.shape));
  const int64_t B = t.shape[0], H = t.shape[1], W = t.shape[2], C = t.shape[3];
  Tensor r({B, C, H, W});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) r.data[(b * C + c) * H * W + i] = t.data[(b * H * W + i) * C + c];
  return r;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while (!(mant & 0x400));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);
  if (ax >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: inf
  if (ax < 0x38800000u) {                       // below the smallest normal half
    const float af = std::bit_cast<float>(ax);
    // 2^-24 is the subnormal unit; rint rounds to nearest even.
    const float units = af * 16777216.0f;
    return sign | static_cast<uint16_t>(__builtin_rintf(units));
  }
  uint32_t m = ax + 0xc8000fffu + ((ax >> 13) & 1u);  // rebias exponent, round to nearest even
  return sign | static_cast<uint16_t>(m >> 13);
}

}  // namespace farm
