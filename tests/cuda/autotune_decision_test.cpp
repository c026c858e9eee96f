// The conv autotune's decision (kernels/cuda/autotune.h) from measured times,
// without a GPU: cuDNN is chosen only when it ran, was faster AND fast mode
// allows it (ARCHITECTURE.md invariant 1); the table says which mode decided.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cuda/autotune.h"

namespace farm::kernels::cuda {
namespace {

ConvChoice measured(double hand_ms, double cudnn_ms) {
  ConvChoice c;
  c.shape.batch = 2, c.shape.in_h = c.shape.in_w = 64, c.shape.in_c = c.shape.out_c = 320;
  c.shape.kernel = 3, c.shape.stride = 1, c.shape.pad = 1, c.shape.bias = true;
  c.hand_written_ms = hand_ms;
  c.cudnn_ms = cudnn_ms;
  return c;
}

AutotuneOptions mode(bool fast) {
  AutotuneOptions o;
  o.allow_cudnn = fast;
  return o;
}

TEST(CudaConvAutotune, FasterCudnnNeedsFastMode) {
  ConvChoice c = measured(2.0, 1.0);
  decide_conv_path(c, "", mode(false));
  EXPECT_EQ(c.path, ConvPath::hand_written);
  EXPECT_NE(c.why.find("--fast"), std::string::npos) << c.why;
  decide_conv_path(c, "", mode(true));
  EXPECT_EQ(c.path, ConvPath::cudnn);
  EXPECT_NE(c.why.find("not batch-invariant"), std::string::npos) << c.why;
}

TEST(CudaConvAutotune, SlowerCudnnIsNotChosenEvenInFastMode) {
  ConvChoice c = measured(1.0, 1.5);
  decide_conv_path(c, "", mode(true));
  EXPECT_EQ(c.path, ConvPath::hand_written);
  EXPECT_NE(c.why.find("hand-written faster"), std::string::npos) << c.why;
}

TEST(CudaConvAutotune, CudnnThatDidNotRunIsNotChosen) {
  ConvChoice c = measured(2.0, 0.5);  // a stale time must not count
  decide_conv_path(c, "no algorithm", mode(true));
  EXPECT_EQ(c.path, ConvPath::hand_written);
  EXPECT_EQ(c.why, "cuDNN unavailable: no algorithm");
}

TEST(CudaConvAutotune, TableNamesTheModeAndEveryShape) {
  ConvChoice c = measured(2.0, 1.0);
  decide_conv_path(c, "", mode(false));
  const std::string safe = format_autotune_table({c}, mode(false));
  EXPECT_NE(safe.find("batch-invariant mode"), std::string::npos) << safe;
  EXPECT_NE(safe.find("2x64x64x320->320 k3 s1 f16 +bias"), std::string::npos) << safe;
  const std::string fast = format_autotune_table({c}, mode(true));
  EXPECT_NE(fast.find("batch invariance NOT guaranteed"), std::string::npos) << fast;
}

}  // namespace
}  // namespace farm::kernels::cuda
