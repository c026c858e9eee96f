// The archive writer: exact round trips read back with the HDF5 C API,
// extending a file, reopening after the writer was killed, a SWMR reader.
#include "farm/coord/archive.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "tests/cli/archive_test_support.h"

namespace farm::testing {
namespace {

ArchiveJob test_job(std::vector<std::pair<int, int>> sizes, std::string layout = "2x2") {
  return {"0.1.0 (test)", "tiny-shapes", std::move(layout), "2026-12-02T01:00:00Z", std::move(sizes)};
}

struct Written {
  std::vector<JournalRecord> records;
  std::vector<std::vector<uint8_t>> images;
  void add(Archive& a, int64_t index, int w, int h) {
    records.push_back(test_record(index, w, h));
    images.push_back(test_rgb(w, h, static_cast<int>(index)));
    a.add(records.back(), images.back().data());
  }
  void expect_in(const ReadArchive& read) const {
    EXPECT_EQ(read.rows.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      const auto it = read.rows.find(records[i].index);
      ASSERT_NE(it, read.rows.end()) << "item " << records[i].index;
      expect_row(it->second, records[i], images[i]);
    }
  }
};

TEST(Archive, TwoSizesReadBackExactly) {
  const std::string path = (fresh_dir() / "job.h5").string();
  Written w;
  {
    Archive a = Archive::open(path, test_job({{64, 48}, {32, 32}, {64, 48}}));
    w.add(a, 0, 64, 48);
    w.add(a, 3, 32, 32);
    w.add(a, 1, 64, 48);
    w.add(a, 2, 32, 32);
    w.add(a, 7, 64, 48);
    EXPECT_TRUE(a.contains(3));
    EXPECT_FALSE(a.contains(4));
    EXPECT_EQ(a.rows(), 5u);
    a.finish("2026-12-02T02:00:00Z");
  }
  const ReadArchive read = read_archive(path);
  EXPECT_EQ(read.groups, (std::vector<std::string>{"32x32", "64x48"}));
  EXPECT_EQ(read.attributes.at("format"), "farm archive 1");
  EXPECT_EQ(read.attributes.at("farm_version"), "0.1.0 (test)");
  EXPECT_EQ(read.attributes.at("model"), "tiny-shapes");
  EXPECT_EQ(read.attributes.at("layout"), "2x2");
  EXPECT_EQ(read.attributes.at("started"), "2026-12-02T01:00:00Z");
  EXPECT_EQ(read.attributes.at("ended"), "2026-12-02T02:00:00Z");
  w.expect_in(read);
}

// One image a chunk, compressed: what the issue asks of the layout.
TEST(Archive, ImagesAreChunkedOneImageAChunkAndDeflated) {
  const std::string path = (fresh_dir() / "job.h5").string();
  {
    Archive a = Archive::open(path, test_job({{40, 24}}));
    Written().add(a, 0, 40, 24);
    a.finish("end");
  }
  H5Owned file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  H5Owned images(H5Dopen2(file.id, "/40x24/images", H5P_DEFAULT));
  H5Owned dcpl(H5Dget_create_plist(images.id));
  hsize_t chunk[4] = {};
  ASSERT_EQ(H5Pget_chunk(dcpl.id, 4, chunk), 4);
  EXPECT_EQ(std::vector<hsize_t>(chunk, chunk + 4), (std::vector<hsize_t>{1, 24, 40, 3}));
  ASSERT_EQ(H5Pget_nfilters(dcpl.id), 1);
  unsigned flags = 0, level = 0;
  size_t n_values = 1;
  EXPECT_EQ(H5Pget_filter2(dcpl.id, 0, &flags, &n_values, &level, 0, nullptr, nullptr), H5Z_FILTER_DEFLATE);
  H5Owned space(H5Dget_space(images.id));
  hsize_t max_dims[4] = {};
  H5Sget_simple_extent_dims(space.id, nullptr, max_dims);
  EXPECT_EQ(max_dims[0], H5S_UNLIMITED);
}

TEST(Archive, ExtendsAnExistingArchive) {
  const std::string path = (fresh_dir() / "job.h5").string();
  Written w;
  {
    Archive a = Archive::open(path, test_job({{32, 32}}));
    w.add(a, 0, 32, 32);
    w.add(a, 1, 32, 32);
    a.finish("first end");
  }
  {
    // A rerun on another layout, with a size the first run did not have.
    ArchiveJob rerun = test_job({{32, 32}, {16, 48}}, "1x4");
    rerun.started = "2026-12-03T00:00:00Z";
    Archive a = Archive::open(path, rerun);
    EXPECT_TRUE(a.contains(0));
    EXPECT_TRUE(a.contains(1));
    EXPECT_EQ(a.rows(), 2u);
    w.add(a, 2, 16, 48);
    w.add(a, 3, 32, 32);
    a.finish("second end");
  }
  const ReadArchive read = read_archive(path);
  EXPECT_EQ(read.groups, (std::vector<std::string>{"16x48", "32x32"}));
  EXPECT_EQ(read.attributes.at("started"), "2026-12-02T01:00:00Z");  // the first run's
  EXPECT_EQ(read.attributes.at("layout"), "1x4");
  EXPECT_EQ(read.attributes.at("ended"), "second end");
  w.expect_in(read);
}

TEST(Archive, NotAFarmArchiveIsAnErrorAndLeftAlone) {
  const auto dir = fresh_dir();
  const std::string text = write_text(dir / "notes.h5", "my notes\n");
  EXPECT_THROW(Archive::open(text, test_job({{8, 8}})), Error);
  EXPECT_EQ(read_text(text), "my notes\n");

  // An HDF5 file of someone else's.
  const std::string other = (dir / "other.h5").string();
  H5Fclose(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  try {
    Archive::open(other, test_job({{8, 8}}));
    FAIL() << "opened someone else's HDF5 file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a farm archive"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Archive::open((dir / "no" / "such" / "dir.h5").string(), test_job({{8, 8}})), Error);
}

// A child process writes two rows and then dies mid-row in SWMR mode: the
// images and prompt datasets already have a third row, index does not, and
// the file is still marked open for writing.
void write_then_die_mid_row(const std::string& path, Written& w) {
  w.records = {test_record(0, 24, 16), test_record(5, 24, 16)};
  w.images = {test_rgb(24, 16, 0), test_rgb(24, 16, 5)};
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {
      Archive a = Archive::open(path, test_job({{24, 16}}));
      for (size_t i = 0; i < w.records.size(); ++i) a.add(w.records[i], w.images[i].data());
    }
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl);
    if (file < 0 || H5Fstart_swmr_write(file) < 0) _exit(2);
    for (const char* name : {"/24x16/images", "/24x16/prompt"}) {
      const hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
      hsize_t dims[4] = {};
      const hid_t space = H5Dget_space(d);
      H5Sget_simple_extent_dims(space, dims, nullptr);
      dims[0] += 1;
      if (H5Dset_extent(d, dims) < 0) _exit(3);
    }
    H5Fflush(file, H5F_SCOPE_GLOBAL);
    raise(SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
}

TEST(Archive, ReopensAfterItsWriterWasKilledMidRow) {
  const std::string path = (fresh_dir() / "job.h5").string();
  Written w;
  write_then_die_mid_row(path, w);
  // A plain open fails: the file is still marked open for writing.
  H5E_auto2_t print = nullptr;
  void* print_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &print, &print_data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  EXPECT_LT(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), 0);
  H5Eset_auto2(H5E_DEFAULT, print, print_data);

  const ArchiveListing listing = list_archive(path);
  EXPECT_EQ(listing.damage, "");
  ASSERT_EQ(listing.rows.size(), 2u);
  EXPECT_EQ(listing.rows[1].index, 5);
  EXPECT_EQ(listing.rows[1].key, w.records[1].key);

  {
    Archive a = Archive::open(path, test_job({{24, 16}}));
    EXPECT_EQ(a.rows(), 2u);
    w.records.push_back(test_record(9, 24, 16));
    w.images.push_back(test_rgb(24, 16, 9));
    a.add(w.records.back(), w.images.back().data());
    a.finish("end");
  }
  const ReadArchive read = read_archive(path);
  w.expect_in(read);
  // The half-written row was cut, not kept beside the new one.
  H5Owned file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  H5Owned images(H5Dopen2(file.id, "/24x16/images", H5P_DEFAULT));
  EXPECT_EQ(length_of(images.id), 3u);
}

// The writer killed (SIGKILL) at random instants while it appends: every
// time, the rows the file shows are whole and exact, in the order written,
// and the file reopens for extending.
TEST(Archive, KilledAtRandomInstantsKeepsWholeRows) {
  const auto dir = fresh_dir();
  std::mt19937 rng(20261202);
  for (int round = 0; round < 12; ++round) {
    const std::string path = (dir / cat("job", round, ".h5")).string();
    // Odd rounds extend an archive a first run left, so the kill may also
    // land while the writer reopens it.
    const int64_t first = round % 2 ? 3 : 0;
    if (first) {
      Archive a = Archive::open(path, test_job({{64, 64}}));
      for (int64_t i = 0; i < first; ++i) a.add(test_record(i, 64, 64), test_rgb(64, 64, static_cast<int>(i)).data());
      a.finish("first run");
    }
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      Archive a = Archive::open(path, test_job({{64, 64}}));
      for (int64_t i = first;; ++i) a.add(test_record(i, 64, 64), test_rgb(64, 64, static_cast<int>(i)).data());
    }
    usleep(std::uniform_int_distribution<useconds_t>(2000, 80000)(rng));
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    // Killed before the file took its name: nothing to list, and the
    // temporary it was made under goes when the archive is next opened.
    const ArchiveListing listing = std::filesystem::exists(path) ? list_archive(path) : ArchiveListing{};
    EXPECT_EQ(listing.damage, "") << "round " << round;
    {
      Archive a = Archive::open(path, test_job({{64, 64}}));
      EXPECT_EQ(a.rows(), listing.rows.size()) << "round " << round;
      a.finish("end");
    }
    const ReadArchive read = read_archive(path);
    ASSERT_EQ(read.rows.size(), listing.rows.size()) << "round " << round;
    EXPECT_GE(listing.rows.size(), static_cast<size_t>(first)) << "round " << round;
    for (size_t i = 0; i < listing.rows.size(); ++i) {
      EXPECT_EQ(listing.rows[i].index, static_cast<int64_t>(i)) << "round " << round;
      ASSERT_EQ(read.rows.count(static_cast<int64_t>(i)), 1u) << "round " << round << " row " << i;
      expect_row(read.rows.at(static_cast<int64_t>(i)), test_record(static_cast<int64_t>(i), 64, 64),
                 test_rgb(64, 64, static_cast<int>(i)));
    }
  }
  // No temporary is left beside the archives.
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().rfind(".job", 0), std::string::npos) << entry.path();
}

// A reader in another process, opened with H5F_ACC_SWMR_READ while the
// writer holds the file, sees each row once add() returns: index and pixels
// through H5Drefresh on the handles it holds; strings once it has closed the
// file and opened it again (see archive.h: a SWMR reader cannot follow
// variable-length data written after it opened, nor can a second open in the
// same process, which shares the first one's view). The reader is forked
// before the writer opens anything, so the two share no HDF5 state.
struct Watcher {
  std::string path;
  hid_t file = -1, index = -1, images = -1;

  void open() {
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    file = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
    H5Pclose(fapl);
    index = H5Dopen2(file, "/48x32/index", H5P_DEFAULT);
    images = H5Dopen2(file, "/48x32/images", H5P_DEFAULT);
  }
  void close() {
    H5Dclose(index);
    H5Dclose(images);
    H5Fclose(file);
  }
  // "ROWS LAST_INDEX ok|bad LAST_PROMPT"
  std::string look() {
    if (file < 0) open();
    if (index < 0 || images < 0 || H5Drefresh(index) < 0 || H5Drefresh(images) < 0) return "refresh failed";
    const auto indices = read_column<int64_t>(file, "/48x32/index", H5T_NATIVE_INT64);
    const hsize_t n = indices.size();
    if (n == 0) return "0";
    std::vector<uint8_t> rgb(48 * 32 * 3);
    const hsize_t start[4] = {n - 1, 0, 0, 0}, count[4] = {1, 32, 48, 3};
    H5Owned file_space(H5Dget_space(images));
    H5Sselect_hyperslab(file_space.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Owned memory_space(H5Screate_simple(4, count, nullptr));
    const bool ok = H5Dread(images, H5T_NATIVE_UINT8, memory_space.id, file_space.id, H5P_DEFAULT, rgb.data()) >= 0 &&
                    rgb == test_rgb(48, 32, static_cast<int>(indices[n - 1]));
    close();
    open();
    const auto prompts = read_string_column(file, "/48x32/prompt");
    return cat(n, " ", indices[n - 1], " ", ok ? "ok" : "bad", " ", prompts.size() >= n ? prompts[n - 1] : "?");
  }
};

TEST(Archive, SwmrReaderSeesRowsWhileTheWriterRuns) {
  const std::string path = (fresh_dir() / "job.h5").string();
  int to_reader[2], to_writer[2];
  ASSERT_EQ(pipe(to_reader), 0);
  ASSERT_EQ(pipe(to_writer), 0);
  const pid_t reader = fork();
  ASSERT_GE(reader, 0);
  if (reader == 0) {
    close(to_reader[1]);
    close(to_writer[0]);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    Watcher watcher{path};
    char go = 0;
    while (read(to_reader[0], &go, 1) == 1) {
      std::string report;
      try {
        report = watcher.look();
      } catch (const std::exception& e) {
        report = e.what();
      }
      report += "\n";
      if (write(to_writer[1], report.data(), report.size()) < 0) _exit(1);
    }
    _exit(0);
  }
  close(to_reader[0]);
  close(to_writer[1]);
  FILE* answers = fdopen(to_writer[0], "r");
  auto ask_reader = [&]() {
    EXPECT_EQ(write(to_reader[1], "g", 1), 1);
    char line[512] = {};
    if (!fgets(line, sizeof line, answers)) return std::string("no answer");
    return std::string(line);
  };

  Archive a = Archive::open(path, test_job({{48, 32}}));
  EXPECT_EQ(ask_reader(), "0\n");
  Written w;
  w.add(a, 4, 48, 32);
  EXPECT_EQ(ask_reader(), cat("1 4 ok ", w.records[0].item.prompt, "\n"));
  w.add(a, 2, 48, 32);
  w.add(a, 6, 48, 32);
  EXPECT_EQ(ask_reader(), cat("3 6 ok ", w.records[2].item.prompt, "\n"));
  close(to_reader[1]);
  int status = 0;
  waitpid(reader, &status, 0);
  fclose(answers);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  a.finish("end");
  w.expect_in(read_archive(path));
}

}  // namespace
}  // namespace farm::testing
