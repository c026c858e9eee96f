// Per-op device time, for the GPU check script (FARM_PROFILE_OPS=1): a pair
// of events around each op on the rank's stream, summed per op name. Events
// come from a pool and are read back only when the host already waits for
// the stream (or at the end), so profiling adds no synchronisation of its own.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace farm::kernels::cuda_detail {

class OpProfile {
 public:
  explicit OpProfile(cudaStream_t stream) : stream_(stream) {}
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;
  ~OpProfile() {
    for (auto& [a, b] : pool_) cudaEventDestroy(a), cudaEventDestroy(b);
  }

  // Marks the start of op `name`; end() marks its end (a launch in between).
  void begin(const char* name) {
    if (used_ == pool_.size()) {
      cudaEvent_t a = nullptr, b = nullptr;
      FARM_CHECK_CUDA(cudaEventCreate(&a));
      FARM_CHECK_CUDA(cudaEventCreate(&b));
      pool_.emplace_back(a, b);
      names_.emplace_back();
    }
    names_[used_] = name;
    FARM_CHECK_CUDA(cudaEventRecord(pool_[used_].first, stream_));
  }
  void end() { FARM_CHECK_CUDA(cudaEventRecord(pool_[used_++].second, stream_)); }

  // Adds the recorded ops' times to the totals and frees their events (waits for the last one).
  void collect() {
    if (used_ == 0) return;
    FARM_CHECK_CUDA(cudaEventSynchronize(pool_[used_ - 1].second));
    for (size_t i = 0; i < used_; ++i) {
      float ms = 0;
      FARM_CHECK_CUDA(cudaEventElapsedTime(&ms, pool_[i].first, pool_[i].second));
      auto& t = totals_[names_[i]];
      t.first += ms;
      ++t.second;
    }
    used_ = 0;
  }
  // Total ms and calls per op name.
  const std::map<std::string, std::pair<double, int64_t>>& totals() {
    collect();
    return totals_;
  }

 private:
  cudaStream_t stream_;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> pool_;
  std::vector<std::string> names_;
  size_t used_ = 0;
  std::map<std::string, std::pair<double, int64_t>> totals_;
};

}  // namespace farm::kernels::cuda_detail
