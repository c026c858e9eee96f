#include "launcher/archive_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "farm/coord/archive.h"
#include "farm/coord/journal.h"
#include "farm/core/error.h"

namespace farm::launcher {

namespace {

namespace fs = std::filesystem;

struct ArchiveFlags {
  std::string out_dir, archive;
};

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A running job holds an exclusive lock on its journal and is the archive's
// one writer; building an archive beside it could clear the mark HDF5 keeps
// on a file open for writing and corrupt the job's --archive file. A shared
// lock taken here, and held to the end, keeps a job from starting meanwhile.
class JournalReadLock {
 public:
  explicit JournalReadLock(const std::string& journal) {
    fd_ = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(journal, ": cannot read the journal: ", std::strerror(errno));
    if (::flock(fd_, LOCK_SH | LOCK_NB) != 0)
      fail(journal, ": a job is writing this folder (its journal is locked); archive it when the job has ended, ",
           "or give the job --archive to have it write one as it goes");
  }
  ~JournalReadLock() { ::close(fd_); }
  JournalReadLock(const JournalReadLock&) = delete;
  JournalReadLock& operator=(const JournalReadLock&) = delete;

 private:
  int fd_ = -1;
};

int run_archive(const ArchiveFlags& f) {
  if (!fs::is_directory(f.out_dir)) fail(f.out_dir, ": not a folder (expected a farm render --out folder)");
  const std::string journal_path = (fs::path(f.out_dir) / "journal.jsonl").string();
  if (!fs::exists(journal_path))
    fail(f.out_dir, ": no journal.jsonl, so nothing says which images are done; farm archive reads a folder written ",
         "by farm render");
  const JournalReadLock lock(journal_path);
  const JournalContents journal = read_journal(journal_path);
  if (journal.torn_tail)
    std::fprintf(stderr, "farm archive: %s ends in a torn record (a job was killed); it is left out\n",
                 journal_path.c_str());

  // The folder's job as the journal tells it: the last run's farm and
  // model, the first run's start. The layout is not journalled.
  ArchiveJob job;
  if (!journal.runs.empty()) {
    job.farm_version = journal.runs.back().farm_version;
    job.model = journal.runs.back().model;
    job.started = journal.runs.front().started;
  }
  const ArchiveSync sync = sync_archive(f.archive, f.out_dir, journal, job);
  if (!sync.rebuilt_because.empty())
    std::printf("farm archive: %s rebuilt: %s\n", f.archive.c_str(), sync.rebuilt_because.c_str());
  Archive archive = Archive::open(f.archive, job);
  const size_t rows = archive.rows();
  archive.finish(now_utc());

  std::set<std::pair<int, int>> sizes;
  size_t failed = 0;
  for (const auto& [index, rec] : journal.latest()) {
    if (rec->status == "done")
      sizes.emplace(rec->item.width, rec->item.height);
    else
      ++failed;
  }
  std::printf("farm archive: %s: %zu images in %zu size groups (%zu added now)", f.archive.c_str(), rows, sizes.size(),
              sync.added);
  if (failed) std::printf("; %zu failed items are not in it", failed);
  std::printf("\n");
  return 0;
}

}  // namespace

std::function<int()> add_archive_command(CLI::App& app) {
  auto f = std::make_shared<ArchiveFlags>();
  CLI::App* cmd = app.add_subcommand(
      "archive", "Write a job's images and items into one HDF5 file, from its output folder's journal and PNGs");
  cmd->add_option("OUT_DIR", f->out_dir, "the job's output folder (holds journal.jsonl)")->required();
  cmd->add_option("FILE", f->archive,
                  "the HDF5 file to write; an archive of this folder already there is extended, or rebuilt where it "
                  "disagrees with the journal")
      ->required();
  return [f] { return run_archive(*f); };
}

}  // namespace farm::launcher
