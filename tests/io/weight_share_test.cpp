// Weights read once per stage group (farm/io/weight_share.h), on an
// in-process group of threads: the followers' weights are bit-identical to a
// plain read, only the reader reads its files, and every way a rank can fail
// (the reader's file, a follower's own file, a rank failing before its first
// weight, ranks that disagree on the keys) fails the right ranks with the
// right message and leaves no broadcast untaken, which on MPI would block
// the reader. A follower waits at most 20 s for a broadcast, so a protocol
// that hangs fails the test instead.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/io/weight_share.h"
#include "farm/io/weight_store.h"

namespace fs = std::filesystem;
using farm::Shape;
using farm::WeightShare;
using farm::WeightStore;

namespace {

// Rank 0's broadcast queues a copy for every other rank (as MPI may, for a
// small message); the others take theirs in order.
struct Hub {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::deque<std::vector<uint8_t>>> queues;
  explicit Hub(int n) : queues(static_cast<size_t>(n)) {}
};

class ThreadLink final : public farm::GroupLink {
 public:
  ThreadLink(Hub& hub, int rank) : hub_(hub), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(hub_.queues.size()); }
  std::string reader_name() const override { return "rank 0 (host test)"; }
  void broadcast(void* data, size_t n, bool) override {
    std::unique_lock lock(hub_.m);
    if (rank_ == 0) {
      const auto* p = static_cast<const uint8_t*>(data);
      for (size_t r = 1; r < hub_.queues.size(); ++r) hub_.queues[r].emplace_back(p, p + n);
      hub_.cv.notify_all();
      return;
    }
    auto& q = hub_.queues[static_cast<size_t>(rank_)];
    if (!hub_.cv.wait_for(lock, std::chrono::seconds(20), [&] { return !q.empty(); })) {
      ADD_FAILURE() << "rank " << rank_ << " waited 20 s for a broadcast: the group hangs";
      std::abort();
    }
    if (q.front().size() != n) {
      ADD_FAILURE() << "rank " << rank_ << " took " << n << " bytes of a " << q.front().size() << "-byte broadcast";
      std::abort();
    }
    if (n) std::memcpy(data, q.front().data(), n);
    q.pop_front();
  }

 private:
  Hub& hub_;
  int rank_;
};

std::string tmpdir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("farm_share_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// A folder with one F16 safetensors file holding `keys`, each [2, 3] with
// distinct values (leave a key out to break the folder).
std::string write_folder(const std::string& name, const std::vector<std::string>& keys) {
  const std::string dir = tmpdir(name);
  std::string header = "{", data;
  for (size_t i = 0; i < keys.size(); ++i) {
    header += (i ? "," : "") + ("\"" + keys[i] + "\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[") +
              std::to_string(data.size()) + "," + std::to_string(data.size() + 12) + "]}";
    for (int j = 0; j < 6; ++j) {
      const uint16_t h = static_cast<uint16_t>(0x3C00 + 97 * i + j);  // 1.0 and up
      data.append(reinterpret_cast<const char*>(&h), 2);
    }
  }
  header += "}";
  std::ofstream o(dir + "/model.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) o.put(static_cast<char>((n >> (8 * i)) & 0xff));
  o << header << data;
  return dir;
}

// What one rank did: its weights (as bytes), its error, its counters.
struct RankResult {
  std::vector<std::vector<float>> weights;
  std::string error;
  size_t read = 0, received = 0;
};

// One stage group of `folders.size()` ranks; rank r opens folders[r] and
// loads keys[r] in order, as run_rank does: finish() after the last weight,
// leave() after any error.
std::vector<RankResult> run_group(const std::vector<std::string>& folders,
                                  const std::vector<std::vector<std::string>>& keys, const Shape& shape = {2, 3}) {
  const int n = static_cast<int>(folders.size());
  Hub hub(n);
  std::vector<RankResult> out(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      auto& res = out[static_cast<size_t>(r)];
      WeightShare share(std::make_unique<ThreadLink>(hub, r));
      try {
        const WeightStore store(folders[static_cast<size_t>(r)], &share);
        for (const auto& k : keys[static_cast<size_t>(r)]) {
          const farm::Tensor t = store.get(k, shape);
          res.weights.emplace_back(t.data.begin(), t.data.end());
        }
        res.read = store.bytes_read();
        res.received = store.bytes_received();
        share.finish();
      } catch (const farm::Error& e) {
        res.error = e.what();
        share.leave(res.error);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 1; r < n; ++r)
    EXPECT_TRUE(hub.queues[static_cast<size_t>(r)].empty()) << "rank " << r << " left broadcasts untaken";
  return out;
}

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

const std::vector<std::string> kKeys = {"a.weight", "b.weight", "c.weight"};

}  // namespace

TEST(WeightShare, FollowersGetTheReadersBytesAndReadNothing) {
  const std::string dir = write_folder("good", kKeys);
  const auto res = run_group({dir, dir, dir}, {kKeys, kKeys, kKeys});
  const WeightStore plain(dir);
  for (size_t r = 0; r < 3; ++r) {
    ASSERT_EQ(res[r].error, "") << "rank " << r;
    ASSERT_EQ(res[r].weights.size(), kKeys.size());
    for (size_t i = 0; i < kKeys.size(); ++i) {
      const auto want = plain.get(kKeys[i], {2, 3}).data;
      EXPECT_EQ(std::memcmp(res[r].weights[i].data(), want.data(), want.size() * 4), 0) << kKeys[i];
    }
  }
  EXPECT_EQ(res[0].read, 36u);
  EXPECT_EQ(res[0].received, 0u);
  for (size_t r = 1; r < 3; ++r) {
    EXPECT_EQ(res[r].read, 0u);
    EXPECT_EQ(res[r].received, 36u);
  }
}

TEST(WeightShare, ThePlainStoreCountsWhatItReads) {
  const WeightStore plain(write_folder("plain", kKeys));
  plain.get("b.weight", {2, 3});
  EXPECT_EQ(plain.bytes_read(), 12u);
  EXPECT_EQ(plain.bytes_received(), 0u);
}

TEST(WeightShare, TheReadersMissingWeightFailsTheWholeGroup) {
  const std::string good = write_folder("good2", kKeys), broken = write_folder("no_b", {"a.weight", "c.weight"});
  const auto res = run_group({broken, good, good}, {kKeys, kKeys, kKeys});
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_TRUE(has(res[r].error, broken + "/model.safetensors: missing weight 'b.weight'")) << r << ": " << res[r].error;
    EXPECT_EQ(res[r].weights.size(), 1u) << r;
  }
  EXPECT_TRUE(has(res[1].error, "reported by rank 0 (host test)")) << res[1].error;
}

TEST(WeightShare, AFollowersOwnErrorFailsOnlyIt) {
  const std::string good = write_folder("good3", kKeys), broken = write_folder("no_c", {"a.weight", "b.weight"});
  const auto res = run_group({good, broken, good}, {kKeys, kKeys, kKeys});
  EXPECT_EQ(res[0].error, "");
  EXPECT_EQ(res[2].error, "");
  EXPECT_EQ(res[2].weights.size(), 3u);
  EXPECT_TRUE(has(res[1].error, broken + "/model.safetensors: missing weight 'c.weight'")) << res[1].error;
}

TEST(WeightShare, AFollowerThatFailsBeforeItsFirstWeightTakesTheRest) {
  const std::string good = write_folder("good4", kKeys);
  const auto res = run_group({good, good + "/no_such_folder", good}, {kKeys, kKeys, kKeys});
  EXPECT_EQ(res[0].error, "");
  EXPECT_EQ(res[2].error, "");
  EXPECT_TRUE(has(res[1].error, "no_such_folder: model folder is missing")) << res[1].error;
}

TEST(WeightShare, AReaderThatFailsBeforeItsFirstWeightFailsTheGroup) {
  const std::string good = write_folder("good5", kKeys);
  const auto res = run_group({good + "/gone", good, good}, {kKeys, kKeys, kKeys});
  for (size_t r = 0; r < 3; ++r) EXPECT_TRUE(has(res[r].error, "gone: model folder is missing")) << res[r].error;
}

TEST(WeightShare, AWrongShapeOnTheReaderNamesItsFile) {
  const std::string good = write_folder("good6", kKeys);
  const auto res = run_group({good, good}, {kKeys, kKeys}, {3, 2});
  for (size_t r = 0; r < 2; ++r)
    EXPECT_TRUE(has(res[r].error, good + "/model.safetensors: weight 'a.weight' has shape [2, 3] (expected [3, 2])"))
        << res[r].error;
}

TEST(WeightShare, RanksThatDisagreeOnTheKeysFailWithoutHanging) {
  const std::string good = write_folder("good7", kKeys);
  const std::vector<std::string> ab = {"a.weight", "b.weight"}, ac = {"a.weight", "c.weight"};
  // A follower asking for another key, one needing fewer keys, one needing more.
  const auto res = run_group({good, good, good, good}, {kKeys, ac, ab, {"a.weight", "b.weight", "c.weight", "b.weight"}});
  EXPECT_EQ(res[0].error, "");
  EXPECT_TRUE(has(res[1].error, "weight 'c.weight': rank 0 (host test), which reads this stage's weights, sent "
                                "'b.weight' instead")) << res[1].error;
  EXPECT_TRUE(has(res[2].error, "sent weight 'c.weight' that this rank does not need")) << res[2].error;
  EXPECT_TRUE(has(res[3].error, "weight 'b.weight': rank 0 (host test), which reads this stage's weights, finished "
                                "without it")) << res[3].error;
}
