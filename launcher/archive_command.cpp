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
#include "farm/coord/job_setup.h"
#include "farm/coord/journal.h"
#include "farm/core/error.h"

namespace farm::launcher {

namespace {

namespace fs = std::filesystem;

struct ArchiveFlags {
  std::string out_dir, archive;
};

int run_archive(const ArchiveFlags& f) {
  if (!fs::is_directory(f.out_dir)) fail(f.out_dir, ": not a folder (expected a farm render --out folder)");
  const std::string journal_path = (fs::path(f.out_dir) / "journal.jsonl").string();
  if (!fs::exists(journal_path))
    fail(f.out_dir, ": no journal.jsonl, so nothing says which images are done; farm archive reads a folder written ",
         "by farm render");
  // A running job holds the folder's lock and is the archive's one writer;
  // building an archive beside it could clear the mark HDF5 keeps on a file
  // open for writing and corrupt the job's --archive file. Held to the end,
  // the lock also keeps a job from starting meanwhile.
  const auto lock = FolderLock::try_lock(f.out_dir);
  if (!lock)
    fail(f.out_dir, ": a job is writing this folder (it holds the folder's lock); archive it when the job has ended, ",
         "or give the job --archive to have it write one as it goes");
  const JournalContents journal = read_journal(journal_path);
  if (journal.torn_tail)
    std::fprintf(stderr, "farm archive: %s ends in a torn record (a job was killed); it is left out\n",
                 journal_path.c_str());

  // The folder's job as the journal tells it: the last run's farm and
  // model and layout, the first run's start.
  ArchiveJob job;
  if (!journal.runs.empty()) {
    job.farm_version = journal.runs.back().farm_version;
    job.model = journal.runs.back().model;
    job.layout = journal.runs.back().layout;
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
