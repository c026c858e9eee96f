// What the cost model needs to know about the machine a stage rank runs on:
// sustained FLOP/s, memory, and the link to the next stage.
#pragma once

#include <string>
#include <vector>

namespace farm::partition {

struct DeviceProfile {
  std::string name;         // cpu, a100, h100
  double flops = 0;         // sustained FLOP/s per rank for this workload's dense math
  double memory_bytes = 0;  // per-rank memory cap default
  double link_bytes_per_s = 0;  // stage-to-stage bandwidth, one direction
  double link_latency_s = 0;
  int element_bytes = 4;    // bytes per activation/weight element in transit/storage: 4 (cpu fp32), 2 (gpu fp16)
  bool overlap_transfers = false;  // true: sends overlap compute (GPU/NCCL); false: the CPU does the copy
};

// The built-in profiles; an unknown name is an error listing the known ones.
const DeviceProfile& device_profile(const std::string& name);
std::vector<std::string> device_profile_names();

}  // namespace farm::partition
