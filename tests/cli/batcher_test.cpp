// Micro-batches: compatible items only, at most N each, every item exactly
// once, job order kept within a kind; and JobItem survives its trip through
// the ring as JSON unchanged.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <tuple>
#include <set>

#include "farm/coord/batcher.h"
#include "farm/coord/job_item_json.h"

using namespace farm;

TEST(Batcher, MixedJobGroupsCompatibleItemsInOrder) {
  std::mt19937 rng(3);
  const char* samplers[] = {"ddim", "euler_a", "dpmpp_2m"};
  std::vector<JobItem> items;
  for (int i = 0; i < 200; ++i) {
    JobItem it;
    it.index = i;
    it.width = 64 + 8 * static_cast<int>(rng() % 2);
    it.height = 64;
    it.steps = 4 + static_cast<int>(rng() % 2);
    it.sampler = samplers[rng() % 3];
    it.clip_skip = 1 + static_cast<int>(rng() % 2);
    items.push_back(it);
  }
  for (int max : {1, 3, 8}) {
    const auto mbs = make_micro_batches(items, max);
    std::set<int64_t> seen;
    int64_t prev_first = -1;
    std::vector<int64_t> last_of_kind;
    for (const auto& mb : mbs) {
      ASSERT_FALSE(mb.empty());
      EXPECT_LE(mb.size(), static_cast<size_t>(max));
      EXPECT_GT(mb.front().index, prev_first) << "micro-batches go out in the order of their first item";
      prev_first = mb.front().index;
      for (size_t k = 0; k < mb.size(); ++k) {
        EXPECT_TRUE(compatible(mb.front(), mb[k]));
        if (k) {
          EXPECT_GT(mb[k].index, mb[k - 1].index);
        }
        EXPECT_TRUE(seen.insert(mb[k].index).second) << "item " << mb[k].index << " twice";
      }
    }
    EXPECT_EQ(seen.size(), items.size());
    // Only the last micro-batch of each kind may be short.
    std::map<std::tuple<int, int, int, std::string, int>, int> short_ones;
    for (const auto& mb : mbs)
      if (mb.size() < static_cast<size_t>(max)) {
        const auto& f = mb.front();
        const auto kind = std::make_tuple(f.width, f.height, f.steps, f.sampler, f.clip_skip);
        EXPECT_EQ(++short_ones[kind], 1);
      }
  }
}

TEST(JobItemJson, RoundTripIsExact) {
  JobItem it;
  it.index = 123456;
  it.source = "/tmp/p.jsonl";
  it.line = 9;
  it.prompt = "a \"quoted\" prompt, ünïcode ✓\n";
  it.negative_prompt = "blurry";
  it.seed = 4294967297;
  it.seed_was_random = true;
  it.steps = 31;
  it.guidance = 7.3f;  // not exact in binary: must come back as the same float
  it.width = 520;
  it.height = 384;
  it.sampler = "dpmpp_2m_karras";
  it.clip_skip = 2;
  const JobItem b = job_item_from_json(job_item_to_json(it));
  EXPECT_EQ(b.index, it.index);
  EXPECT_EQ(b.source, it.source);
  EXPECT_EQ(b.line, it.line);
  EXPECT_EQ(b.prompt, it.prompt);
  EXPECT_EQ(b.negative_prompt, it.negative_prompt);
  EXPECT_EQ(b.seed, it.seed);
  EXPECT_EQ(b.seed_was_random, it.seed_was_random);
  EXPECT_EQ(b.steps, it.steps);
  EXPECT_EQ(std::memcmp(&b.guidance, &it.guidance, sizeof(float)), 0);
  EXPECT_EQ(b.width, it.width);
  EXPECT_EQ(b.height, it.height);
  EXPECT_EQ(b.sampler, it.sampler);
  EXPECT_EQ(b.clip_skip, it.clip_skip);
}
