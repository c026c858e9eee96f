// farm/core/host_memory.h: large blocks are kept after release and handed
// back for a request of the same size; a request no kept block fits releases
// them all (so they never add to a later phase's peak); small requests are
// malloc's. Checked through the counters and the addresses handed out.
#include "farm/core/host_memory.h"

#include <gtest/gtest.h>

#include <cstring>

#include "farm/core/tensor.h"

namespace farm {
namespace {

constexpr size_t kMB = size_t{1} << 20;

TEST(HostMemory, ReleasedLargeBlockIsReusedForTheSameSize) {
  void* a = host_allocate(40 * kMB);
  std::memset(a, 1, 40 * kMB);
  host_release(a, 40 * kMB);
  const HostMemoryStats before = host_memory_stats();
  EXPECT_GE(before.kept_blocks, 1u);
  void* b = host_allocate(40 * kMB);
  EXPECT_EQ(b, a) << "the kept block of the same size";
  EXPECT_EQ(host_memory_stats().reused, before.reused + 1);
  host_release(b, 40 * kMB);
}

TEST(HostMemory, RequestNoBlockFitsReleasesTheKeptOnes) {
  void* a = host_allocate(40 * kMB);
  void* b = host_allocate(48 * kMB);
  host_release(a, 40 * kMB);
  host_release(b, 48 * kMB);
  EXPECT_GE(host_memory_stats().kept_blocks, 2u);
  // Larger than both: neither is handed out, and both are unmapped.
  void* c = host_allocate(96 * kMB);
  EXPECT_EQ(host_memory_stats().kept_blocks, 0u);
  EXPECT_EQ(host_memory_stats().kept_bytes, 0u);
  std::memset(c, 2, 96 * kMB);
  host_release(c, 96 * kMB);
  // A smaller request does not take the larger block (its pages would stay resident).
  void* d = host_allocate(64 * kMB);
  EXPECT_NE(d, c);
  host_release(d, 64 * kMB);
}

TEST(HostMemory, SmallBlocksAreNotKept) {
  const HostMemoryStats before = host_memory_stats();
  void* a = host_allocate(1000);
  std::memset(a, 3, 1000);
  host_release(a, 1000);
  EXPECT_EQ(host_memory_stats().kept_blocks, before.kept_blocks);
  EXPECT_EQ(host_memory_stats().mapped, before.mapped);
}

// Tensor(shape) still zero-fills (code accumulates into it); an uninitialised
// one only has the right size.
TEST(HostMemory, TensorOfAShapeIsZeroedEvenInAReusedBlock) {
  const Shape s{10 * 1024 * 1024};  // 40 MB of fp32: a large block
  {
    Tensor dirty = Tensor::uninitialized(s);
    std::memset(dirty.ptr(), 0xff, dirty.bytes());
  }
  const Tensor t(s);
  for (size_t i = 0; i < t.data.size(); i += 4099) ASSERT_EQ(t.data[i], 0.0f) << i;
  EXPECT_EQ(t.data.back(), 0.0f);
  EXPECT_EQ(Tensor::uninitialized(s).size(), numel(s));
}

}  // namespace
}  // namespace farm
