#include "farm/coord/job_seeds.h"

#include <random>

namespace farm {

int64_t derived_seed(uint64_t job_seed, int64_t index) {
  uint64_t x = job_seed + static_cast<uint64_t>(index + 1) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return static_cast<int64_t>((x ^ (x >> 31)) >> 32);
}

uint64_t draw_job_seed() {
  std::random_device entropy;
  return (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
}

void assign_random_seeds(std::vector<JobItem>& items, uint64_t job_seed) {
  for (JobItem& item : items) {
    if (item.seed != -1) continue;
    // A line's copies: the first copy's seed + copy, as A1111's batch count.
    item.seed = derived_seed(job_seed, item.index - item.copy) + item.copy;
    item.seed_was_random = true;
  }
}

}  // namespace farm
