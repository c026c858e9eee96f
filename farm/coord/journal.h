// The job journal: `journal.jsonl` in the output folder, append-only, written
// by the coordinator alone. It is what a rerun trusts (not file names): one
// line per run started (the job seed random seeds derive from) and one per
// item finished or failed, each flushed and fsync'd after the image's atomic
// rename, so a record never names a file that is not whole on disk.
//
//   {"run": 1, "job_seed": 123, "farm": "0.1.0", "model": "tiny", "layout": "2x2", "started": "2026-12-02T01:00:00Z"}
//   {"index": 0, "status": "done", "key": "<sha256>", "seed": 42, "file": "00000-42.png",
//    "sha256": "<of the PNG bytes>", "rank": 1, "render_s": 0.8, "item": {...}}
//   {"index": 3, "status": "failed", "key": "<sha256>", "seed": 7, "reason": "...", "rank": 1, "item": {...}}
//
// A crash can leave the last line torn (no newline, or not JSON): it is
// ignored, and the next append starts a fresh line. Any other bad line is an
// error naming the journal and the line: the journal is ours, so a bad line
// in the middle means someone edited it, and guessing would lose work.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "farm/coord/job.h"

namespace farm {

struct JournalRun {
  int64_t run = 0;       // 1, 2, ...: how many times the job was started
  uint64_t job_seed = 0; // random seeds derive from it (job_seeds.h)
  std::string farm_version, model, started;  // started: UTC, ISO 8601
  std::string layout;                        // "PxS": pipelines x stages
};

struct JournalRecord {
  int64_t index = 0;
  std::string status;  // "done" or "failed"
  std::string key;     // item_key() of the item: sha256 hex of what decides its pixels
  int64_t seed = 0;
  std::string file;    // done: the PNG's name inside the output folder
  std::string sha256;  // done: of the PNG's bytes
  std::string reason;  // failed: why
  int rank = 0;        // the rank that finished it (the last stage)
  double render_s = 0; // admission to written, seconds
  std::string model;   // the model's name (as in the PNG's metadata)
  JobItem item;        // the whole item (source, line, prompt, ...)
};

struct JournalContents {
  std::vector<JournalRun> runs;        // in file order
  std::vector<JournalRecord> records;  // in file order; a later record of an index supersedes earlier ones
  bool torn_tail = false;              // the last line was torn and ignored

  // The latest record of each index.
  std::map<int64_t, const JournalRecord*> latest() const;
};

// Reads `path`; a missing file reads as empty. Throws Error naming the file
// and line for a bad line that is not the last.
JournalContents read_journal(const std::string& path);
// The same from bytes (the fuzz target and tests); `name` is used in errors.
JournalContents parse_journal(const std::string& bytes, const std::string& name);

std::string journal_line(const JournalRun& run);
std::string journal_line(const JournalRecord& rec);

class Journal {
 public:
  // Opens `path` for appending (creating it); a torn tail is cut off first.
  explicit Journal(std::string path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends one line, then fflush + fsync: on return the record is durable.
  void append(const std::string& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace farm
