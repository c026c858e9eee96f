// Groups a job's items into micro-batches. Items are compatible when one
// UNet call can carry them together (same size, steps, sampler, clip skip,
// prompt reading, 77-token chunk count, and LoRA set: a micro-batch runs
// with one set of LoRA patches active);
// a job may mix them freely: each kind fills its own micro-batches, in job
// order, and micro-batches go out in the order of their first item. Since an
// image does not depend on its batch-mates, grouping never changes a byte.
#pragma once

#include <vector>

#include "farm/coord/job.h"

namespace farm {

bool compatible(const JobItem& a, const JobItem& b);

std::vector<std::vector<JobItem>> make_micro_batches(const std::vector<JobItem>& items, int max_items);

}  // namespace farm
