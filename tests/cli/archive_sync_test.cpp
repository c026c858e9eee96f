// sync_archive: an archive brought in line with the journal after a crash,
// rebuilt when it disagrees, never trusted over the journal.
#include <gtest/gtest.h>

#include "farm/coord/archive.h"
#include "tests/cli/archive_test_support.h"

namespace farm::testing {
namespace {

ArchiveJob test_job() { return {"0.1.0 (test)", "tiny-shapes", "1x1", "2026-12-02T01:00:00Z", {}}; }

// An output folder as the coordinator leaves it: PNGs and their records.
struct Folder {
  std::filesystem::path dir = fresh_dir();
  std::string out = dir.string(), archive = (dir / "job.h5").string();
  JournalContents journal;
  std::map<int64_t, std::vector<uint8_t>> images;

  JournalRecord& done(int64_t index, int w, int h) {
    JournalRecord r = test_record(index, w, h);
    images[index] = test_rgb(w, h, static_cast<int>(index) + 100 * static_cast<int>(journal.records.size()));
    write_png(out, r, images[index]);
    journal.records.push_back(r);
    return journal.records.back();
  }
  void failed(int64_t index) {
    JournalRecord r = test_record(index, 16, 16);
    r.status = "failed";
    r.file.clear();
    r.reason = "non-finite latent";
    journal.records.push_back(r);
  }
  // An archive holding exactly these records, written directly.
  void archive_with(const std::vector<JournalRecord>& records) {
    ArchiveJob job = test_job();
    for (const auto& r : records) job.sizes.emplace_back(r.item.width, r.item.height);
    Archive a = Archive::open(archive, job);
    for (const auto& r : records) a.add(r, test_rgb(r.item.width, r.item.height, 7 * static_cast<int>(r.index)).data());
  }
  // The archive holds the latest done record of each item with its PNG's pixels.
  void expect_archive_matches_journal() {
    const ReadArchive read = read_archive(archive);
    size_t done_items = 0;
    for (const auto& [index, rec] : journal.latest()) {
      if (rec->status != "done") {
        EXPECT_EQ(read.rows.count(index), 0u) << "failed item " << index << " archived";
        continue;
      }
      ++done_items;
      const auto it = read.rows.find(index);
      ASSERT_NE(it, read.rows.end()) << "item " << index;
      expect_row(it->second, *rec, images.at(index));
    }
    EXPECT_EQ(read.rows.size(), done_items);
  }
};

TEST(SyncArchive, CreatesAnArchiveFromTheJournal) {
  Folder f;
  f.done(0, 32, 32);
  f.done(1, 16, 24);
  f.failed(2);
  f.done(3, 32, 32);
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_EQ(sync.added, 3u);
  EXPECT_EQ(sync.rebuilt_because, "");
  f.expect_archive_matches_journal();
}

// The job was killed after journalling items the archive did not get.
TEST(SyncArchive, AppendsRowsTheArchiveLacks) {
  Folder f;
  const JournalRecord a = f.done(0, 32, 32), b = f.done(1, 32, 32);
  f.done(2, 16, 24);
  f.done(3, 32, 32);
  // Rows 0 and 1 from the images the folder has.
  {
    Archive archive = Archive::open(f.archive, {"v", "m", "1x1", "s", {{32, 32}}});
    archive.add(a, f.images[0].data());
    archive.add(b, f.images[1].data());
  }
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_EQ(sync.added, 2u);
  EXPECT_EQ(sync.rebuilt_because, "");
  f.expect_archive_matches_journal();
  // In line now: nothing more to do.
  EXPECT_EQ(sync_archive(f.archive, f.out, f.journal, test_job()).added, 0u);
}

TEST(SyncArchive, RebuildsWhenTheArchiveHasARowTheJournalLacks) {
  Folder f;
  const JournalRecord a = f.done(0, 32, 32);
  f.done(1, 32, 32);
  f.archive_with({a, test_record(9, 32, 32)});  // 9: never journalled as done
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_EQ(sync.added, 2u);
  EXPECT_NE(sync.rebuilt_because.find("item 9"), std::string::npos) << sync.rebuilt_because;
  f.expect_archive_matches_journal();  // row 0's pixels are the PNG's, not the old archive's
}

TEST(SyncArchive, RebuildsWhenARowHasAnotherKey) {
  Folder f;
  JournalRecord old = f.done(0, 32, 32);
  f.done(1, 32, 32);
  old.key = sha256_hex("the item before its prompt was edited");
  f.archive_with({old});
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_NE(sync.rebuilt_because.find("another key"), std::string::npos) << sync.rebuilt_because;
  f.expect_archive_matches_journal();
}

// A later record supersedes an earlier one: an item re-rendered after its
// first record (e.g. --rerender-changed) is archived as its latest record.
TEST(SyncArchive, FollowsTheLatestRecordOfAnItem) {
  Folder f;
  const JournalRecord first = f.done(0, 32, 32);
  f.archive_with({first});
  f.done(0, 16, 24).key = sha256_hex("edited");
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_NE(sync.rebuilt_because, "");
  f.expect_archive_matches_journal();
}

TEST(SyncArchive, DropsRowsOfItemsToBeRenderedAgain) {
  Folder f;
  const JournalRecord a = f.done(0, 32, 32), b = f.done(1, 32, 32);
  f.archive_with({a, b});
  const ArchiveSync sync = sync_archive(f.archive, f.out, f.journal, test_job(), {1});
  EXPECT_NE(sync.rebuilt_because.find("item 1"), std::string::npos) << sync.rebuilt_because;
  // Item 1 comes back when the job add()s its new render.
  const ReadArchive read = read_archive(f.archive);
  ASSERT_EQ(read.rows.size(), 1u);
  expect_row(read.rows.at(0), a, f.images[0]);
}

TEST(SyncArchive, RebuildsAnEmptyFile) {
  Folder f;
  f.done(0, 8, 8);
  write_text(f.archive, "");
  EXPECT_EQ(sync_archive(f.archive, f.out, f.journal, test_job()).rebuilt_because, "the file is empty");
  f.expect_archive_matches_journal();
}

TEST(SyncArchive, RemovesTemporariesOfADeadWriter) {
  Folder f;
  f.done(0, 8, 8);
  const auto stale = f.dir / ".job.h5.tmp.12345.0";
  write_text(stale, "half a file");
  sync_archive(f.archive, f.out, f.journal, test_job());
  EXPECT_FALSE(std::filesystem::exists(stale));
}

TEST(SyncArchive, RefusesAFileThatIsNotAnArchive) {
  Folder f;
  f.done(0, 8, 8);
  write_text(f.archive, "results I care about\n");
  try {
    sync_archive(f.archive, f.out, f.journal, test_job());
    FAIL() << "overwrote a file that is not an archive";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a farm archive"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text(f.archive), "results I care about\n");
}

TEST(SyncArchive, AMissingPngIsAnErrorNamingIt) {
  Folder f;
  f.done(0, 8, 8);
  const JournalRecord& r = f.done(1, 8, 8);
  std::filesystem::remove(f.dir / r.file);
  try {
    sync_archive(f.archive, f.out, f.journal, test_job());
    FAIL() << "no error for a missing PNG";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(r.file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

TEST(SyncArchive, AChangedPngIsAnErrorNamingIt) {
  Folder f;
  const JournalRecord& r = f.done(0, 8, 8);
  // Same pixels, other bytes (a text chunk): the sha256 no longer matches.
  const auto bytes = encode_png(8, 8, f.images[0].data(), {{"Comment", "edited"}});
  write_text(f.dir / r.file, std::string(bytes.begin(), bytes.end()));
  try {
    sync_archive(f.archive, f.out, f.journal, test_job());
    FAIL() << "no error for a changed PNG";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(r.file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace farm::testing
