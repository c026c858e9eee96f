// DiT patches by exact arithmetic: the ref op against the layout Z-Image's
// patchify defines (diffusers' view/permute: token (i, j) holds its 2x2
// patch's values in (ph, pw, c) order, tokens row-major), worked out by hand
// on a 4x6 image of 3 channels; the inverse undoes it; cpu = ref byte for byte
// is on the shared case list (cpu_patchify_*).
#include <gtest/gtest.h>

#include <vector>

#include "kernels/ref/ref_ops.h"

namespace farm::kernels {
namespace {

TEST(Patchify, TokenHoldsItsPatchChannelFastest) {
  const int64_t H = 4, W = 6, C = 3, p = 2;
  std::vector<float> image(static_cast<size_t>(H * W * C));
  for (size_t k = 0; k < image.size(); ++k) image[k] = static_cast<float>(k);  // value = NHWC index
  std::vector<float> patches(image.size());
  ref::patchify(1, H, W, C, p, false, image.data(), patches.data());
  // Token 4 is (i = 1, j = 1): pixels (2, 2), (2, 3), (3, 2), (3, 3), each's 3 channels.
  const auto at = [&](int64_t y, int64_t x, int64_t c) { return static_cast<float>((y * W + x) * C + c); };
  const std::vector<float> want = {at(2, 2, 0), at(2, 2, 1), at(2, 2, 2), at(2, 3, 0), at(2, 3, 1), at(2, 3, 2),
                                   at(3, 2, 0), at(3, 2, 1), at(3, 2, 2), at(3, 3, 0), at(3, 3, 1), at(3, 3, 2)};
  const int64_t pd = p * p * C;
  for (int64_t e = 0; e < pd; ++e) EXPECT_EQ(patches[static_cast<size_t>(4 * pd + e)], want[static_cast<size_t>(e)]) << e;
  // Token 2 is (0, 2): its first value is pixel (0, 4), channel 0.
  EXPECT_EQ(patches[static_cast<size_t>(2 * pd)], at(0, 4, 0));

  std::vector<float> back(image.size(), -1.0f);
  ref::patchify(1, H, W, C, p, true, patches.data(), back.data());
  EXPECT_EQ(back, image);
}

TEST(Patchify, SamplesAreIndependent) {
  const int64_t B = 2, H = 2, W = 4, C = 2, p = 2, n = H * W * C;
  std::vector<float> image(static_cast<size_t>(B * n));
  for (size_t k = 0; k < image.size(); ++k) image[k] = static_cast<float>(k % 7) - 3.0f + static_cast<float>(k / n);
  std::vector<float> both(image.size()), one(static_cast<size_t>(n));
  ref::patchify(B, H, W, C, p, false, image.data(), both.data());
  ref::patchify(1, H, W, C, p, false, image.data() + n, one.data());
  EXPECT_EQ(std::vector<float>(both.begin() + n, both.end()), one);
}

}  // namespace
}  // namespace farm::kernels
