// Tensor: a shape and fp32 host storage. The CPU engine computes in fp32;
// f16/bf16 exist at the file boundary (safetensors) and convert at load.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace farm {

enum class DType { f32, f16, bf16, i64, i32 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

using Shape = std::vector<int64_t>;
int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 4, 8, 8]"

struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(numel(shape)), 0.0f) {}
  Tensor(Shape s, std::vector<float> d);

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  // Same storage, new shape of equal element count.
  Tensor reshaped(Shape s) &&;
};

// Layout conversions between torch's NCHW and farm's NHWC.
Tensor nchw_to_nhwc(const Tensor& t);
Tensor nhwc_to_nchw(const Tensor& t);

// IEEE half / bfloat16 bit patterns to float and back (round to nearest even).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
uint16_t float_to_half(float f);
uint16_t float_to_bf16(float f);

}  // namespace farm
