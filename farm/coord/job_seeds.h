// Seeds that survive a rerun. An item whose seed is -1 ("random") gets one
// derived from the job seed and its position in the job, so rerunning the
// same command (the job seed is read back from the journal) gives the same
// seeds, the same file names and the same pixels:
//
//   x = job_seed + (index + 1) * 0x9E3779B97F4A7C15       (mod 2^64)
//   x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
//   x = (x ^ (x >> 27)) * 0x94D049BB133111EB
//   seed = (x ^ (x >> 31)) >> 32                          in [0, 2^32)
//
// i.e. the upper half of SplitMix64's (index+1)-th output from state
// job_seed: items get independent, well-mixed seeds, and a 32-bit seed fits
// every UI's seed field (A1111, ComfyUI), so an image can be re-made there.
#pragma once

#include <cstdint>
#include <vector>

#include "farm/coord/job.h"

namespace farm {

int64_t derived_seed(uint64_t job_seed, int64_t index);

// A fresh job seed from the OS's entropy, for a job's first run.
uint64_t draw_job_seed();

// Items with seed -1 get derived_seed(job_seed, index) and seed_was_random;
// the copies of a line with count > 1 get its first copy's seed + copy.
void assign_random_seeds(std::vector<JobItem>& items, uint64_t job_seed);

}  // namespace farm
