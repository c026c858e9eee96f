// Wrong kernels must abort with a report naming the kernel, block, thread and
// call site (death tests: each runs in a child process).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include "kernels/emu/options.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

class EmuDiagnostics : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(EmuDiagnostics, DivergentBarrier) {
  EXPECT_DEATH(divergent_barrier(),
               "divergent barrier in kernel 'divergent_barrier_kernel'.*block \\(0,0,0\\).*faulty.cu:[0-9]+");
}

TEST_F(EmuDiagnostics, WarpCollectiveDeadlock) {
  EXPECT_DEATH(warp_deadlock(), "deadlock in kernel 'warp_deadlock_kernel'.*__shfl_sync.*faulty.cu:[0-9]+");
}

TEST_F(EmuDiagnostics, SpinWaitTripsTheWatchdog) {
  EXPECT_DEATH(
      {
        emu::options().timeout_s = 0.3;
        spin_wait_forever();
      },
      "watchdog: no progress.*spin_wait_kernel");
}

TEST_F(EmuDiagnostics, StackOverflow) {
  EXPECT_DEATH(stack_overflow(), "stack overflow in kernel 'stack_overflow_kernel'.*thread \\(");
}

TEST_F(EmuDiagnostics, ShuffleNamingAnExitedLane) {
  EXPECT_DEATH(shuffle_with_exited_lane(), "__shfl_xor_sync mask 0xffffffff names lane 16 which has exited");
}

TEST_F(EmuDiagnostics, WmmaMisalignedPointer) {
  EXPECT_DEATH(wmma_misaligned(), "wmma::load_matrix_sync at .*faulty.cu:[0-9]+.*not 32-byte aligned");
}

TEST_F(EmuDiagnostics, DynamicSharedMemoryOverrunUnderAsan) {
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_DEATH(dynamic_smem_overrun(), "heap-buffer-overflow");
#else
  GTEST_SKIP() << "needs FARM_EMU_SANITIZE=ON (AddressSanitizer)";
#endif
}

TEST(EmuLaunch, InvalidConfigurationsSetTheLastError) {
  EXPECT_EQ(launch_with_block(1024), cudaSuccess);
  EXPECT_EQ(launch_with_block(1025), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with_smem(48 * 1024, false), cudaSuccess);
  EXPECT_EQ(launch_with_smem(64 * 1024, false), cudaErrorInvalidValue);
  EXPECT_EQ(launch_with_smem(64 * 1024, true), cudaSuccess);
}

}  // namespace
}  // namespace farm::emu_test
