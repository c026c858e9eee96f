// Warp collectives against the semantics in the CUDA C++ Programming Guide
// (shuffle segments of `width` lanes; out-of-segment sources return the
// caller's own value), and the thread order the emulator promises.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/emu/options.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

class EmuWarp : public ::testing::TestWithParam<int> {};

TEST_P(EmuWarp, CollectivesFollowTheProgrammingGuide) {
  const int w = GetParam();
  DeviceBuffer<int> out(14 * 64);
  warp_ops(out.get(), w);
  const auto o = out.to_host();
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, warp_base = t - lane, seg = lane / w * w;
    auto value = [&](int src_lane) { return (warp_base + src_lane) * 10; };
    SCOPED_TRACE(::testing::Message() << "thread " << t << " width " << w);
    EXPECT_EQ(o[0 * 64 + t], value(seg + 3 % w));
    EXPECT_EQ(o[1 * 64 + t], value(lane - 2 >= seg ? lane - 2 : lane));
    EXPECT_EQ(o[2 * 64 + t], value(lane + 2 < seg + w ? lane + 2 : lane));
    EXPECT_EQ(o[3 * 64 + t], value((lane ^ 5) < seg + w ? lane ^ 5 : lane));
    EXPECT_EQ(static_cast<unsigned>(o[4 * 64 + t]), 0x49249249u);
    EXPECT_EQ(o[5 * 64 + t], t >= 32 ? 1 : 0);
    EXPECT_EQ(o[6 * 64 + t], 0);
    EXPECT_EQ(o[7 * 64 + t], 31 * 32 / 2);
    EXPECT_EQ(static_cast<unsigned>(o[8 * 64 + t]), 0xFFu << (8 * (lane / 8)));
    if (lane < 16) {
      EXPECT_EQ(o[9 * 64 + t], lane + 1 < 16 ? t + 1 : t);
    }
    EXPECT_EQ(o[10 * 64 + t], 2 * (warp_base + 31 - lane) + 1);
    EXPECT_EQ(o[11 * 64 + t], 16);
    EXPECT_EQ(o[12 * 64 + t], 3);
    EXPECT_EQ(o[13 * 64 + t], t ^ 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, EmuWarp, ::testing::Values(32, 16, 8));

TEST(EmuOrder, ThreadsRunInTheConfiguredOrder) {
  const bool saved = emu::options().reverse;
  for (const bool reverse : {false, true}) {
    emu::options().reverse = reverse;
    DeviceBuffer<int> tickets(96);
    ticket_order(tickets.get(), 96);
    const auto t = tickets.to_host();
    for (int i = 0; i < 96; ++i) EXPECT_EQ(t[i], reverse ? 95 - i : i) << "reverse " << reverse;
  }
  emu::options().reverse = saved;
}

}  // namespace
}  // namespace farm::emu_test
