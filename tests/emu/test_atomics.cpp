// Atomics from 1024 threads in 8 blocks, on one and on four workers; the
// expected values are exact closed forms.
#include <gtest/gtest.h>

#include "kernels/emu/options.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

class EmuAtomics : public ::testing::TestWithParam<int> {};

TEST_P(EmuAtomics, ResultsAreExact) {
  const int saved = emu::options().workers;
  emu::options().workers = GetParam();
  const AtomicResults r = run_atomics(8, 128);
  emu::options().workers = saved;
  EXPECT_EQ(r.count, 1024);
  EXPECT_EQ(r.max_seen, 1023u);
  EXPECT_EQ(r.float_sum, 1024.0f);
  EXPECT_EQ(r.half_sum, 64.0f);
  EXPECT_EQ(r.bf16_sum, 64.0f);
  EXPECT_EQ(r.cas_max, 499.5f);
  EXPECT_EQ(r.ull_sum, 1023ull * 1024 / 2);
  EXPECT_EQ(r.inc_wrapped, 1024u % 10);
}

INSTANTIATE_TEST_SUITE_P(Workers, EmuAtomics, ::testing::Values(1, 4));

}  // namespace
}  // namespace farm::emu_test
