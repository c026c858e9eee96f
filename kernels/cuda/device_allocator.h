// A caching device allocator for one rank's stream. Freed blocks go back to a
// free list keyed by their rounded size and are handed out again without
// cudaMalloc. Stream-ordered by construction: every kernel of a rank runs on
// one stream, so work that reuses a block is queued after all work that used
// it before; no event is needed. Blocks are returned to CUDA only when the
// allocator goes (after the last tensor holding one).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <vector>

#include "farm/core/tensor.h"
#include "kernels/cuda/cuda_check.h"

namespace farm::kernels::cuda_detail {

class CachingAllocator final : public DeviceAllocator {
 public:
  ~CachingAllocator() override {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) cudaFree(p);  // at exit the context may be gone: errors are moot
  }
  void* allocate(size_t bytes) override {
    const size_t size = rounded(bytes);
    auto& list = free_[size];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      in_use_ += size;
      return p;
    }
    void* p = nullptr;
    FARM_CHECK_CUDA(cudaMalloc(&p, size));
    ++allocations_;
    reserved_ += size;
    in_use_ += size;
    peak_in_use_ = in_use_ > peak_in_use_ ? in_use_ : peak_in_use_;
    return p;
  }
  void release(void* p, size_t bytes) noexcept override {
    const size_t size = rounded(bytes);
    free_[size].push_back(p);
    in_use_ -= size;
  }
  int64_t allocations() const { return allocations_; }
  size_t reserved() const { return reserved_; }
  size_t peak_in_use() const { return peak_in_use_; }

 private:
  // 512-byte granules up to 1 MiB, then 1/16 steps of the next power of two:
  // few size classes, at most 6.25 % waste on large blocks.
  static size_t rounded(size_t bytes) {
    if (bytes <= (size_t{1} << 20)) return (bytes + 511) / 512 * 512 + (bytes == 0 ? 512 : 0);
    size_t pow2 = size_t{1} << 20;
    while (pow2 < bytes) pow2 <<= 1;
    const size_t step = pow2 / 16;
    return (bytes + step - 1) / step * step;
  }
  std::map<size_t, std::vector<void*>> free_;
  int64_t allocations_ = 0;
  size_t reserved_ = 0, in_use_ = 0, peak_in_use_ = 0;
};

}  // namespace farm::kernels::cuda_detail
