// The journal (torn tails, bad lines, durable appends, the folder lock), the
// SHA-256 that fingerprints its records (FIPS 180-2 vectors), the derived
// seeds (values computed with Python's exact integers from the rule in
// job_seeds.h; SplitMix64's first output from 0 is the published 0xE220A839...)
// and the reproducibility key.
#include <gtest/gtest.h>

#include "farm/coord/job_item_json.h"
#include "farm/coord/job_seeds.h"
#include "farm/coord/job_setup.h"
#include "farm/coord/journal.h"
#include "farm/coord/progress.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

using testing::fresh_dir;
using testing::read_text;
using testing::write_text;

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a's fed in uneven pieces: the block boundary handling.
  Sha256 h;
  const std::string chunk(997, 'a');
  size_t fed = 0;
  while (fed + chunk.size() <= 1000000) h.update(chunk), fed += chunk.size();
  h.update(std::string(1000000 - fed, 'a'));
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(JobSeeds, DerivedSeedsFollowTheRule) {
  EXPECT_EQ(derived_seed(0, 0), 3793791033);  // 0xE220A839: SplitMix64(0)'s first output, upper half
  EXPECT_EQ(derived_seed(0, 1), 1853398634);
  EXPECT_EQ(derived_seed(4242, 0), 3612307308);
  EXPECT_EQ(derived_seed(4242, 11), 627493716);
  EXPECT_EQ(derived_seed(UINT64_MAX, 5), 3541937597);
  EXPECT_EQ(derived_seed(1234567890123ull, 99999), 2924989319);
}

TEST(JobSeeds, OnlyRandomItemsGetThem) {
  std::vector<JobItem> items(3);
  for (int i = 0; i < 3; ++i) items[i].index = i, items[i].seed = -1;
  items[1].seed = 77;
  assign_random_seeds(items, 4242);
  EXPECT_EQ(items[0].seed, 3612307308);
  EXPECT_TRUE(items[0].seed_was_random);
  EXPECT_EQ(items[1].seed, 77);
  EXPECT_FALSE(items[1].seed_was_random);
  EXPECT_EQ(items[2].seed, derived_seed(4242, 2));
}

JobItem item(int64_t index, const std::string& prompt) {
  JobItem it;
  it.index = index, it.source = "p.txt", it.line = static_cast<int>(index) + 1, it.prompt = prompt;
  it.seed = 5, it.steps = 20, it.guidance = 7.5f, it.width = it.height = 512, it.sampler = "ddim";
  return it;
}

TEST(ItemKey, PixelsDecideItPositionDoesNot) {
  const JobItem a = item(0, "a cat");
  JobItem moved = a;
  moved.index = 9, moved.line = 40, moved.source = "other.jsonl";
  EXPECT_EQ(item_key(a, "m1"), item_key(moved, "m1"));
  EXPECT_NE(item_key(a, "m1"), item_key(a, "m2"));
  for (auto change : std::vector<std::function<void(JobItem&)>>{
           [](JobItem& i) { i.prompt += " "; }, [](JobItem& i) { i.negative_prompt = "x"; },
           [](JobItem& i) { i.seed = 6; }, [](JobItem& i) { i.steps = 21; },
           [](JobItem& i) { i.guidance = 7.5000005f; }, [](JobItem& i) { i.width = 504; },
           [](JobItem& i) { i.sampler = "euler"; }, [](JobItem& i) { i.clip_skip = 2; }}) {
    JobItem b = a;
    change(b);
    EXPECT_NE(item_key(a, "m1"), item_key(b, "m1"));
  }
}

JournalRecord done(int64_t index, const std::string& prompt) {
  JournalRecord r;
  r.index = index, r.status = "done", r.key = sha256_hex(prompt), r.seed = 5;
  r.file = "0000" + std::to_string(index) + "-5.png", r.sha256 = sha256_hex("png" + prompt);
  r.rank = 1, r.render_s = 0.5, r.model = "tiny", r.item = item(index, prompt);
  return r;
}

TEST(Journal, RoundTripsRunsAndRecords) {
  JournalRun run;
  run.run = 1, run.job_seed = UINT64_MAX, run.farm_version = "0.1.0", run.model = "tiny";
  run.started = "2026-12-02T01:00:00Z";
  JournalRecord failed = done(1, "b");
  failed.status = "failed", failed.reason = "the final latent has 1 non-finite values";
  const std::string text =
      journal_line(run) + "\n" + journal_line(done(0, "a \"quoted\"\nprompt")) + "\n" + journal_line(failed) + "\n";
  const JournalContents c = parse_journal(text, "j");
  ASSERT_EQ(c.runs.size(), 1u);
  EXPECT_EQ(c.runs[0].job_seed, UINT64_MAX);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].item.prompt, "a \"quoted\"\nprompt");
  EXPECT_EQ(c.records[0].file, "00000-5.png");
  EXPECT_EQ(c.records[1].reason, failed.reason);
  EXPECT_FALSE(c.torn_tail);
}

TEST(Journal, LaterRecordsSupersede) {
  JournalRecord f = done(0, "a");
  f.status = "failed", f.reason = "x";
  const auto c = parse_journal(journal_line(f) + "\n" + journal_line(done(0, "a")) + "\n", "j");
  EXPECT_EQ(c.latest().at(0)->status, "done");
}

TEST(Journal, TornLastLineIsIgnoredAndCut) {
  const auto dir = fresh_dir();
  const std::string whole = journal_line(done(0, "a")) + "\n";
  const std::string torn = journal_line(done(1, "b"));
  for (const std::string& tail : {torn.substr(0, torn.size() / 2), torn.substr(0, 10) + "\n", std::string("{")}) {
    const std::string path = write_text(dir / "journal.jsonl", whole + tail);
    const JournalContents c = read_journal(path);
    EXPECT_TRUE(c.torn_tail);
    EXPECT_EQ(c.records.size(), 1u);
    {
      Journal j(path);  // cuts the tail, so the next record starts its own line
      j.append(journal_line(done(2, "c")));
    }
    EXPECT_EQ(read_text(path), whole + journal_line(done(2, "c")) + "\n");
  }
}

TEST(Journal, BadLineInTheMiddleNamesTheLine) {
  const std::string text = journal_line(done(0, "a")) + "\nnot json\n" + journal_line(done(1, "b")) + "\n";
  try {
    parse_journal(text, "out/journal.jsonl");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out/journal.jsonl:2:"), std::string::npos) << e.what();
  }
}

TEST(Journal, RecordsNeverPointOutsideTheFolder) {
  JournalRecord r = done(0, "a");
  r.file = "../../etc/passwd";
  EXPECT_THROW(parse_journal(journal_line(r) + "\n" + journal_line(done(1, "b")) + "\n", "j"), Error);
  r.file = "/etc/passwd";
  EXPECT_THROW(parse_journal(journal_line(r) + "\n" + journal_line(done(1, "b")) + "\n", "j"), Error);
}

// Found by fuzz/fuzz_journal: a number where an integer belongs ("width":
// 5.7e27) was converted to int by nlohmann's get<int>(), which is undefined
// behaviour; now that line is not a record.
TEST(Journal, FloatsWhereIntegersBelongAreBadLines) {
  const std::string good = journal_line(done(1, "b")) + "\n";
  const auto replaced = [](std::string line, const std::string& from, const std::string& to) {
    const size_t at = line.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return line.replace(at, from.size(), to);
  };
  JournalRun run;
  run.run = 1, run.job_seed = 7, run.model = "tiny";
  const std::string record = journal_line(done(0, "a"));
  for (const std::string& bad :
       {replaced(record, "\"width\":512", "\"width\":5.66667e+27"), replaced(record, "\"rank\":1", "\"rank\":1e30"),
        replaced(record, "\"index\":0,\"item\"", "\"index\":0.5,\"item\""),
        replaced(record, "\"line\":1", "\"line\":4294967296"),
        replaced(journal_line(run), "\"job_seed\":7", "\"job_seed\":1e300"),
        replaced(journal_line(run), "\"job_seed\":7", "\"job_seed\":-7")}) {
    try {
      parse_journal(bad + "\n" + good, "out/journal.jsonl");
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("out/journal.jsonl:1: not a journal record"), std::string::npos) << e.what();
    }
  }
}

TEST(Journal, MissingFileReadsEmpty) {
  const auto c = read_journal((fresh_dir() / "none.jsonl").string());
  EXPECT_TRUE(c.runs.empty());
  EXPECT_TRUE(c.records.empty());
}

TEST(FolderLock, SecondJobIsLockedOut) {
  const std::string dir = fresh_dir().string();
  auto a = FolderLock::try_lock(dir);
  ASSERT_TRUE(a);
  EXPECT_FALSE(FolderLock::try_lock(dir));  // another open file description: flock excludes it
  a.reset();
  EXPECT_TRUE(FolderLock::try_lock(dir));
}

TEST(Progress, LineAndMetrics) {
  ProgressSnapshot s;
  s.total = 10, s.already_done = 2, s.done = 4, s.failed = 1, s.queued = 1, s.elapsed_s = 2;
  s.in_flight = {{7, 11, 20, 2}};
  s.ranks = {{1, 0, "node\"1", "computing", 1.5}};
  EXPECT_EQ(progress_text(s), "farm: 6/10 done, 1 failed, 2 images/s, ETA 2s; batch 7 step 12/20");
  const std::string m = metrics_text(s);
  EXPECT_NE(m.find("\nfarm_images_done_total 6\n"), std::string::npos) << m;
  EXPECT_NE(m.find("\nfarm_images_failed_total 1\n"), std::string::npos);
  EXPECT_NE(m.find("\nfarm_queue_depth 1\n"), std::string::npos);
  EXPECT_NE(m.find("farm_rank_busy_ratio{rank=\"1\",host=\"node\\\"1\",stage=\"0\"} 0.75\n"), std::string::npos) << m;
}

}  // namespace
}  // namespace farm
