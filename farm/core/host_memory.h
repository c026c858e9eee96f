// Host memory for tensor values. Blocks of 32 MB and more (an SD 1.5 UNet's
// feed-forward activations at 512², every VAE decoder activation) come from
// mmap, with transparent huge pages asked for, and a freed block is kept
// until the next large request: the same sizes come back op after op, and a
// fresh mapping costs a page fault and a kernel clear per 4 KB page (a
// third of a bf16 VAE decode's group norms). A request that no kept block
// fits releases them all first, so a kept block never adds to the peak of a
// phase that allocates other sizes.
#pragma once

#include <cstddef>

namespace farm {

void* host_allocate(size_t bytes);
void host_release(void* p, size_t bytes) noexcept;

// Blocks kept now and their bytes (tests).
struct HostMemoryStats {
  size_t kept_blocks = 0, kept_bytes = 0, reused = 0, mapped = 0;
};
HostMemoryStats host_memory_stats();

}  // namespace farm
