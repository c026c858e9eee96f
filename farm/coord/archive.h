// The job's HDF5 archive (`--archive FILE.h5`, `farm archive OUT_DIR FILE.h5`):
// every rendered image with its item, in one file that h5py, h5dump and the
// HDF5 C API read, and that a reader can watch while the job runs (SWMR).
//
//   /                      attributes: format ("farm archive 1"), farm_version,
//                          model, layout ("2x2"), started, ended (UTF-8 strings;
//                          ended is "" until the job finishes)
//   /512x768/              one group per image size, named WIDTHxHEIGHT
//     images               uint8 [N, 768, 512, 3], one image a chunk, deflate 1
//     index                int64 [N]: the item's position in the job; written last
//     prompt, negative_prompt, sampler, model, key, file
//                          UTF-8 variable-length strings [N]
//     seed                 int64 [N]
//     steps, width, height, clip_skip
//                          int32 [N]
//     guidance             float32 [N]
//     render_s             float64 [N]: admission to written, seconds
//
// Row i of every dataset in a group is one item; rows are in the order items
// finished, not by index. The table is parallel 1-D datasets, not one
// compound dataset: h5py reads a column as a numpy array (f["512x512/seed"][:])
// and strings with .asstr(), which a compound of variable-length strings
// does not allow; a column can be added later without rewriting the others.
//
// Watching a running job: open with h5py.File(path, "r", libver="latest",
// swmr=True) and take len(index) as the row count; each row is flushed in
// full before its index is, so every row below len(index) is whole. (An
// index of -1 marks a row still being written: only possible if HDF5 evicted
// metadata mid-row.) index, the numbers and the images follow the writer
// with refresh() on the datasets held open. The string columns do not: HDF5
// keeps variable-length data in the file's global heap, and a SWMR reader
// cannot read heap blocks written after it opened the file ("address of
// object past end of allocation": seen with 1.10.8; h5py issue 1273 reports
// it from 1.10.4). A watcher
// that wants new prompts closes the file and opens it again (a second open
// in the same process shares the first one's view, so close them all).
//
// The archive is derived data: the journal is the record of what is done.
// sync_archive brings an archive in line with the journal after a crash or a
// rerun; it is never trusted where the two disagree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "farm/coord/journal.h"

namespace farm {

struct ArchiveJob {
  std::string farm_version, model, layout, started;  // root attributes
  // (width, height) of every item the job may render. SWMR writing cannot
  // create groups, so a group for each size is made before it starts.
  std::vector<std::pair<int, int>> sizes;
};

// The single writer of one archive file. Not thread-safe (nor is the serial
// HDF5 build): the coordinator calls it from one thread.
class Archive {
 public:
  // Creates `path` (a missing folder is an error), or opens an existing farm
  // archive to extend it: its rows are kept, groups for new sizes are added,
  // the root attributes take this run's values (started keeps the first
  // run's) and ended is cleared. An archive whose writer died is reopened:
  // HDF5's "open for writing" mark is cleared and rows the writer had not
  // finished are cut (see the file's comment). From here on the file is in
  // SWMR mode: readers may open it with H5F_ACC_SWMR_READ.
  static Archive open(const std::string& path, const ArchiveJob& job);

  Archive(Archive&&) noexcept;
  Archive& operator=(Archive&&) noexcept;
  ~Archive();  // closes the file (flushing it); ended stays as it was

  bool contains(int64_t index) const;
  size_t rows() const;

  // Appends one done item: `rgb` is [rec.item.height][rec.item.width][3].
  // On return the row is on disk and visible to SWMR readers. The size must
  // be one of ArchiveJob::sizes and the index not yet present (both bugs).
  void add(const JournalRecord& rec, const uint8_t* rgb);

  // Writes the ended attribute and closes the file.
  void finish(const std::string& ended);

  const std::string& path() const;

 private:
  struct State;
  explicit Archive(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// One row as the journal check needs it; its size is its group's.
struct ArchiveRow {
  int64_t index = 0;
  std::string key;
  int width = 0, height = 0;
};

struct ArchiveListing {
  std::vector<ArchiveRow> rows;  // whole rows, group by group, in file order
  std::string damage;            // why the file cannot be extended as it is; "" when it can
};

// Reads the archive at `path` without writing to it (a file whose writer
// died, or that is being written, reads too: rows cut short are left out).
// Throws Error when there is no file or it is not a farm archive.
ArchiveListing list_archive(const std::string& path);

struct ArchiveSync {
  size_t added = 0;             // rows written
  std::string rebuilt_because;  // "" when the archive was extended in place (or created)
};

// Brings the archive at `archive_path` in line with the journal: every item
// whose latest record is "done" and that the archive lacks is appended, in
// index order, its pixels read from the PNG in `out_dir` (checked against
// the record's sha256 and size). Items in `rerender` (about to be rendered
// again, e.g. --rerender-changed) are left out until the job add()s them.
// An archive that is damaged, or holds a row the journal does not have as
// done (or under another key or size), or a row of an item in `rerender`, is
// rebuilt from scratch into a temporary file renamed over it. A file at
// `archive_path` that is not a farm archive is an error, never overwritten.
// The file is left closed, ended unchanged. The caller is the archive's only
// writer (it holds the journal's lock).
ArchiveSync sync_archive(const std::string& archive_path, const std::string& out_dir, const JournalContents& journal,
                         const ArchiveJob& job, const std::set<int64_t>& rerender = {});

}  // namespace farm
