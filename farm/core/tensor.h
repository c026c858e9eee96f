// Tensor: a shape, a dtype and a place. Host tensors hold fp32 in `data`
// (the CPU engine computes in fp32; f16/bf16 files convert at load), except
// the bf16 CPU backend's packed weights, host tensors in a `buffer`. Device
// tensors hold their elements (f16/bf16 on the CUDA backend) in a
// DeviceBuffer owned by an allocator: the last tensor to let go returns it.
// Copying a host tensor copies its values; copying a device tensor shares its
// buffer (as a torch tensor does), so ops write only tensors they created.
// A view is a device tensor over part of another's buffer (`slice`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "farm/core/host_memory.h"

namespace farm {

enum class DType { f32, f16, bf16, i64, i32 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

using Shape = std::vector<int64_t>;
int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 4, 8, 8]"

enum class Device : uint8_t { host, cuda };
const char* device_name(Device d);

// Hands out and takes back device memory (the CUDA backend's caching
// allocator). farm/core knows no device API; the allocator does.
class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) noexcept = 0;
};

// Device memory returned to its allocator when the last tensor lets go. The
// allocator is shared so a tensor outliving its backend stays valid.
class DeviceBuffer {
 public:
  DeviceBuffer(std::shared_ptr<DeviceAllocator> owner, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<DeviceAllocator> owner_;
  size_t bytes_;
  void* p_;
};

// std::allocator, except that a resize (or a vector of n) leaves the floats
// uninitialised: every op writes its whole output, and value-initialising
// each output first zeroed gigabytes per UNet step (18 % of a bf16 SD 1.5
// step at 512²). A vector of n given values still sets them.
// Storage from host_memory.h (large blocks kept and reused).
template <class T>
struct NoInitAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <class U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(host_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { host_release(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const NoInitAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using HostValues = std::vector<float, NoInitAllocator<float>>;

// Values against a plain vector (tests compare with expected lists).
inline bool operator==(const HostValues& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

struct Tensor {
  Shape shape;
  HostValues data;  // host tensors: fp32 values
  DType dtype = DType::f32;
  Device device = Device::host;
  std::shared_ptr<DeviceBuffer> buffer;  // device tensors: storage
  size_t offset = 0;                     // bytes into `buffer` (views)

  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(numel(shape)), 0.0f) {}
  Tensor(Shape s, HostValues d);
  Tensor(Shape s, const std::vector<float>& d);
  // A host tensor of `s` whose values are not set (an op's output).
  static Tensor uninitialized(Shape s);
  // A device tensor of `s` in `dtype`, in a fresh buffer from `alloc`.
  static Tensor on_device(Shape s, DType dtype, Device device, const std::shared_ptr<DeviceAllocator>& alloc);

  bool on_host() const { return device == Device::host; }
  bool defined() const { return !shape.empty() || !data.empty() || buffer; }
  // Elements: of `data` for host fp32 tensors, of the shape for tensors in a buffer.
  int64_t size() const { return on_host() && !buffer ? static_cast<int64_t>(data.size()) : numel(shape); }
  size_t bytes() const { return static_cast<size_t>(size()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  // Host fp32 values; a bug (assert) on a device tensor.
  float* ptr();
  const float* ptr() const;
  // Device storage; a bug (assert) on a host tensor.
  void* device_ptr() const;
  // Same storage, new shape of equal element count.
  Tensor reshaped(Shape s) &&;
  // Device view of elements [first, first + numel(s)) of this tensor.
  Tensor slice(int64_t first, Shape s) const;
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
