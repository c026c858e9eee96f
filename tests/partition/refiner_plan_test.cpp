// Base and refiner placed in one ring (partition/refiner_plan.h), on the tiny
// SDXL base and refiner: shared, each model's ranges are its own partition of
// all S stages; apart, the base's on the first S - R and the refiner's on the
// last R, empty elsewhere; each stage's time per micro-batch is its base
// blocks for the base's steps + its refiner blocks for the refiner's, with the
// text encoders on stage 0 and the refiner's VAE on the last stage.
#include <gtest/gtest.h>

#include "farm/core/error.h"
#include "partition/refiner_plan.h"

namespace farm::partition {
namespace {

struct Tiny {
  ModelCosts base, refiner;
  Tiny() {
    Workload w;
    w.latent_h = 24, w.latent_w = 32, w.steps = 10;
    base = estimate_costs(ModelShape::from_folder(std::string(FARM_TEST_DATA) + "/tiny-sdxl"), w, device_profile("cpu"));
    refiner = estimate_costs(ModelShape::from_folder(std::string(FARM_TEST_DATA) + "/tiny-sdxl-refiner"), w,
                             device_profile("cpu"));
  }
};

double block_s(const ModelCosts& c, std::pair<size_t, size_t> r) {
  double s = 0;
  for (size_t i = r.first; i < r.second; ++i) s += c.blocks[i].seconds;
  return s;
}

TEST(RefinerPlan, SharedPartitionsEachModelOverEveryStage) {
  const Tiny t;
  const auto r = place_with_refiner(t.base, t.refiner, 1, 3, 0, 8, 2);
  const Plan b = partition(t.base, 1, 3), f = partition(t.refiner, 1, 3);
  ASSERT_EQ(r.base_ranges.size(), 3u);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(r.base_ranges[s], std::make_pair(b.stage[s].begin, b.stage[s].end)) << s;
    EXPECT_EQ(r.refiner_ranges[s], std::make_pair(f.stage[s].begin, f.stage[s].end)) << s;
    double want = 8 * block_s(t.base, r.base_ranges[s]) + 2 * block_s(t.refiner, r.refiner_ranges[s]);
    if (s == 0) want += t.base.text_seconds + t.refiner.text_seconds;
    if (s == 2) want += t.refiner.vae_seconds;
    EXPECT_NEAR(r.stage_s[s], want, 1e-12 * want) << s;
  }
  const double slowest = std::max({r.stage_s[0], r.stage_s[1], r.stage_s[2]});
  EXPECT_DOUBLE_EQ(r.images_per_s, 1 / slowest);
}

TEST(RefinerPlan, ApartPutsEachModelOnItsOwnStages) {
  const Tiny t;
  const auto r = place_with_refiner(t.base, t.refiner, 2, 3, 1, 8, 2);
  const size_t nb = t.base.blocks.size(), nr = t.refiner.blocks.size();
  EXPECT_EQ(r.base_ranges[0].first, 0u);
  EXPECT_EQ(r.base_ranges[1].second, nb);
  EXPECT_EQ(r.base_ranges[2], std::make_pair(nb, nb));
  EXPECT_EQ(r.refiner_ranges[0], std::make_pair(size_t{0}, size_t{0}));
  EXPECT_EQ(r.refiner_ranges[1], std::make_pair(size_t{0}, size_t{0}));
  EXPECT_EQ(r.refiner_ranges[2], std::make_pair(size_t{0}, nr));
  EXPECT_NEAR(r.stage_s[0], 8 * block_s(t.base, r.base_ranges[0]) + t.base.text_seconds + t.refiner.text_seconds,
              1e-12);
  EXPECT_NEAR(r.stage_s[2], 2 * block_s(t.refiner, {0, nr}) + t.refiner.vae_seconds, 1e-12);
  EXPECT_DOUBLE_EQ(r.images_per_s, 2 / std::max({r.stage_s[0], r.stage_s[1], r.stage_s[2]}));
}

TEST(RefinerPlan, RefinerStagesOutOfRangeIsAnError) {
  const Tiny t;
  for (int R : {-1, 3, 4}) {
    try {
      place_with_refiner(t.base, t.refiner, 1, 3, R, 8, 2);
      ADD_FAILURE() << R;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--refiner-stages"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace farm::partition
