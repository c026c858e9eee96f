// A job from its files to the micro-batches left to render, all on rank 0
// before any weight is read: defaults layered (built-in < the model's
// farm.toml < --config < flags < prompt line), every item checked against
// the model, the output folder checked (writable, room for the images,
// no other job in it), the journal read (the job seed; what is done), and
// the rest grouped into micro-batches.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "farm/coord/job.h"
#include "farm/coord/job_model.h"
#include "farm/coord/journal.h"
#include "farm/pipeline/sd_model.h"

namespace farm {

struct JobRequest {
  std::string model_dir, prompts, out_dir, config;
  std::string farm_version;  // recorded in the journal
  std::function<void(JobDefaults&)> flags;  // the command line's defaults, over the config's
  std::string flags_name = "the flags";     // for errors in the defaults
  bool overwrite = false;         // render everything again
  bool rerender_changed = false;  // an item whose key changed is rendered again, not an error
  bool check_space = true;
  // --job-seed: random seeds derive from it (job_seeds.h); -1: drawn at the
  // job's first run. A journal's own job seed wins, and a different one given
  // here is an error (the images on disk were made with the journal's).
  int64_t job_seed = -1;
  std::string name_template = "{index}-{seed}";  // --name-template (name_template.h)
  int batch = 1;
  // --shard K/N: this job is the K-th of N consecutive slices of the prompt
  // file (a Slurm job array's task), each with its own --out and journal.
  // Items keep their index in the whole file, so names and derived seeds
  // are those of the unsliced job (with the same --job-seed).
  int shard = 0, shards = 1;
  std::string lora_dir;  // --lora-dir: where <lora:NAME:w> finds NAME.safetensors
};

// An exclusive advisory lock (flock) on the output folder itself, held while
// a job writes there: a second job on the same folder would interleave its
// journal with ours. Released when the last copy goes.
class FolderLock {
 public:
  // Null when another process holds the folder.
  static std::shared_ptr<FolderLock> try_lock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_;
};

struct PreparedJob {
  std::vector<JobItem> items;                       // the whole job (its shard), seeds assigned
  size_t file_items = 0;                            // items in the prompt file (all shards)
  int64_t first_index = 0;                          // items[i] has index first_index + i (a shard's start)
  size_t at(int64_t index) const { return static_cast<size_t>(index - first_index); }  // into items, keys, files
  std::vector<std::string> keys;                    // item_key of each item
  std::vector<std::string> files;                   // each item's PNG, relative to out_dir
  std::vector<std::vector<JobItem>> micro_batches;  // what is left to render
  size_t already_done = 0;
  uint64_t job_seed = 0;
  int64_t run = 1;
  std::string model_name, model_fingerprint, out_dir;
  // The SDXL refiner the items use (a job has at most one): its path as the
  // items give it, identity for the keys, and its configs (no weights).
  std::string refiner_dir, refiner_fingerprint;
  std::shared_ptr<const pipeline::SdModel> refiner;
  std::string journal_path;  // created by the coordinator with its first line, once every rank has started
  JournalRun run_record;     // that first line
  std::string first_started; // when the job's first run started (this one's, for a new job)
  std::shared_ptr<FolderLock> lock;
  std::map<std::string, std::string> lora_files;  // LoRA name -> file, every one the items use
  std::set<int64_t> rerender;  // items the journal has as done that are rendered again (--overwrite, changed, file gone)
};

PreparedJob prepare_job(const JobRequest& r, const JobModel& model);
inline PreparedJob prepare_job(const JobRequest& r, const pipeline::SdModel& model) {
  return prepare_job(r, sd_job_model(model));
}

// sha256 over the model's config files (model_index.json and each part's
// config) and the names and sizes of its weight files: cheap to compute for
// a 7 GB folder, and any retrained or swapped part changes it.
std::string model_fingerprint(const std::string& model_dir);

// Temporaries a killed writer left in `dir` (".NAME.tmp.PID.N", atomic_file.h):
// removed at start, so a crash leaves nothing behind for long. Returns how many.
size_t remove_stale_temporaries(const std::string& dir);

// Now, UTC, ISO 8601 to the second ("2026-12-02T01:00:00Z").
std::string now_utc();

}  // namespace farm
