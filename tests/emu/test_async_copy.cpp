// cp.async on the emulator: copies land only at the wait that covers them,
// and the destination reads as 0xFF bytes (-1 as int) until then, so a
// missing wait and a buffer refilled too early both give wrong answers.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

std::vector<int> iota_from(int n, int first) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

class EmuAsyncCopy : public ::testing::TestWithParam<int> {};

TEST_P(EmuAsyncCopy, TileLandsAfterWaitAndBarrier) {
  const int n = 512;
  const auto in = iota_from(n, 100);
  DeviceBuffer<int> din(in), dout(n);
  async_copy_through_smem(din.get(), dout.get(), n, GetParam(), true);
  EXPECT_EQ(dout.to_host(), in);
}

TEST_P(EmuAsyncCopy, MissingWaitReadsUndefinedSharedMemory) {
  const int n = 512;
  const auto in = iota_from(n, 100);
  DeviceBuffer<int> din(in), dout(n);
  async_copy_through_smem(din.get(), dout.get(), n, GetParam(), false);
  EXPECT_EQ(dout.to_host(), std::vector<int>(n, -1));  // not one element arrived
}

INSTANTIATE_TEST_SUITE_P(PieceBytes, EmuAsyncCopy, ::testing::Values(4, 8, 16));

TEST(EmuAsyncCopyZfill, ReadsSrcBytesAndZeroFillsTheRest) {
  const int n = 256;
  for (int valid : {0, 1, 3, 4, 130, 255, 256}) {
    const auto in = iota_from(valid > 0 ? valid : 1, 7);
    DeviceBuffer<int> din(in), dout(n);
    async_copy_zfill(din.get(), valid, dout.get(), n);
    std::vector<int> want(n, 0);
    for (int i = 0; i < valid; ++i) want[i] = in[i];
    EXPECT_EQ(dout.to_host(), want) << "valid " << valid;
  }
}

TEST(EmuAsyncCopyGroups, WaitGroupLandsAllButTheNewestGroups) {
  const auto in = iota_from(8, 1);
  DeviceBuffer<int> din(in), dout(18);
  async_copy_groups(din.get(), dout.get());
  const auto out = dout.to_host();
  // After wait_group 1: the first group (1..4) landed, the second not yet.
  EXPECT_EQ(std::vector<int>(out.begin(), out.begin() + 8), (std::vector<int>{1, 2, 3, 4, -1, -1, -1, -1}));
  // After wait_group 0: the second group landed over the racing store s[5] =
  // 12345; the uncommitted copy into s[8] is not covered by any wait_group.
  EXPECT_EQ(std::vector<int>(out.begin() + 8, out.begin() + 16), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(out[16], -1);
  EXPECT_EQ(out[17], 1);  // wait_all commits and lands it
}

std::vector<int> pipelined_sum_want(const std::vector<int>& in, int tiles) {
  std::vector<int> want(128);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 64; ++t) {
      int acc = 0;
      for (int tile = 0; tile < tiles; ++tile)
        for (int i = 0; i < 4; ++i) acc += in[tile * 256 + (t * 4 + 68 + i) % 256];
      want[b * 64 + t] = acc;
    }
  return want;
}

TEST(EmuAsyncCopyPipeline, DoubleBufferedSumIsExact) {
  const int tiles = 5;
  const auto in = iota_from(tiles * 256, -300);
  DeviceBuffer<int> din(in), dout(128);
  async_copy_pipelined_sum(din.get(), tiles, dout.get(), false);
  EXPECT_EQ(dout.to_host(), pipelined_sum_want(in, tiles));
}

// Refilling the buffer other threads still read (no barrier before the issue)
// is a race on the GPU; the emulator's undefined-until-wait destination makes
// the readers see -1 in both thread orders.
TEST(EmuAsyncCopyPipeline, RefillWithoutBarrierIsCaught) {
  const int tiles = 5;
  const auto in = iota_from(tiles * 256, -300);
  DeviceBuffer<int> din(in), dout(128);
  async_copy_pipelined_sum(din.get(), tiles, dout.get(), true);
  EXPECT_NE(dout.to_host(), pipelined_sum_want(in, tiles));
}

TEST(EmuAsyncCopyDiagnostics, MisalignedCopyAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(async_copy_misaligned(), "cp.async at .*async_copy.cu:[0-9]+ in kernel 'misaligned_kernel'.*not aligned");
}

}  // namespace
}  // namespace farm::emu_test
