// `farm archive OUT_DIR FILE.h5` on folders as farm render leaves them
// (journal.jsonl and PNGs), run as the real binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "tests/cli/archive_test_support.h"
#include "tests/support/run_command.h"

namespace farm::testing {
namespace {

using Result = farm::test::CommandResult;
Result farm(const std::string& args) { return farm::test::run_farm(args); }

struct Folder {
  std::filesystem::path dir = fresh_dir();
  std::string out = (dir / "out").string(), archive = (dir / "job.h5").string();
  std::vector<JournalRecord> records;
  std::map<int64_t, std::vector<uint8_t>> images;
  std::string journal_text;

  Folder() {
    std::filesystem::create_directories(out);
    JournalRun run;
    run.run = 1;
    run.job_seed = 42;
    run.farm_version = "0.1.0";
    run.model = "tiny-shapes";
    run.started = "2026-12-02T01:00:00Z";
    journal_text = journal_line(run) + "\n";
  }
  JournalRecord& done(int64_t index, int w, int h) {
    JournalRecord r = test_record(index, w, h);
    images[index] = test_rgb(w, h, static_cast<int>(index));
    write_png(out, r, images[index]);
    records.push_back(r);
    journal_text += journal_line(r) + "\n";
    write_text(std::filesystem::path(out) / "journal.jsonl", journal_text);
    return records.back();
  }
};

TEST(ArchiveCommand, BuildsTheArchiveOfAFolder) {
  Folder f;
  f.done(0, 32, 32);
  f.done(1, 16, 24);
  f.done(2, 32, 32);
  const Result r = farm("archive " + f.out + " " + f.archive);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("3 images"), std::string::npos) << r.output;
  const ReadArchive read = read_archive(f.archive);
  EXPECT_EQ(read.attributes.at("model"), "tiny-shapes");
  EXPECT_EQ(read.attributes.at("farm_version"), "0.1.0");
  EXPECT_EQ(read.attributes.at("started"), "2026-12-02T01:00:00Z");
  EXPECT_NE(read.attributes.at("ended"), "");
  ASSERT_EQ(read.rows.size(), 3u);
  for (const auto& rec : f.records) expect_row(read.rows.at(rec.index), rec, f.images.at(rec.index));

  // Run again after more items: extended, not rebuilt.
  f.done(3, 16, 24);
  const Result again = farm("archive " + f.out + " " + f.archive);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("1 added"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find("rebuilt"), std::string::npos) << again.output;
  EXPECT_EQ(read_archive(f.archive).rows.size(), 4u);
}

TEST(ArchiveCommand, AFolderWithoutAJournalIsAnError) {
  Folder f;
  const Result r = farm("archive " + f.out + " " + f.archive);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("no journal.jsonl"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(f.archive));
}

TEST(ArchiveCommand, AChangedPngIsAnErrorNamingIt) {
  Folder f;
  f.done(0, 8, 8);
  const JournalRecord& r1 = f.done(1, 8, 8);
  const auto other = encode_png(8, 8, test_rgb(8, 8, 99).data(), {});
  write_text(std::filesystem::path(f.out) / r1.file, std::string(other.begin(), other.end()));
  const Result r = farm("archive " + f.out + " " + f.archive);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(r1.file), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sha256"), std::string::npos) << r.output;
}

TEST(ArchiveCommand, AMissingPngIsAnErrorNamingIt) {
  Folder f;
  const JournalRecord& r0 = f.done(0, 8, 8);
  std::filesystem::remove(std::filesystem::path(f.out) / r0.file);
  const Result r = farm("archive " + f.out + " " + f.archive);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(r0.file), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
}

// A job holds its journal's lock while it runs and writes its own archive.
TEST(ArchiveCommand, RefusesAFolderAJobIsWriting) {
  Folder f;
  f.done(0, 8, 8);
  // What a running job holds: the lock on its output folder (job_setup.h).
  const int fd = ::open(f.out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const Result r = farm("archive " + f.out + " " + f.archive);
  ::close(fd);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("a job is writing"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace farm::testing
