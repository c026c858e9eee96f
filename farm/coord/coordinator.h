// The coordinator (rank 0's second role): hands micro-batches to the
// pipelines that ask for them — each pipeline's stage 0 asks when its queue
// runs dry, so faster pipelines simply get more — writes each finished image
// (atomic rename) and then its journal record (fsync'd), records the items
// that failed and goes on, watches every rank's heartbeat, shows progress,
// and ends the job: a shutdown to every rank when the last item is settled,
// when a rank reports an error or a signal, or past --max-failures.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "farm/comm/transport.h"
#include "farm/coord/job_setup.h"
#include "farm/coord/progress.h"

namespace farm {

struct CoordinatorOptions {
  int64_t max_failures = -1;   // stop once more items than this failed; -1: never
  double stall_timeout_s = 600;  // a rank silent this long stalls the job
  bool terminal = false;       // stderr is a terminal: redraw the progress line
  double progress_every_s = 10;
  std::string metrics_file;    // Prometheus textfile, rewritten every few seconds
  // Called after an image's journal record is durable (the archive's hook).
  std::function<void(const JournalRecord&, const std::vector<uint8_t>& png)> on_written;
};

struct ItemFailure {
  int64_t index = 0;
  std::string source, reason;
  int line = 0;
};

// Exit codes (README): 0 every item rendered, 3 some items failed, 1 the job
// stopped (a rank's error, a stall, --max-failures), 128 + N a signal N.
enum ExitCode : int { kAllRendered = 0, kJobError = 1, kItemsFailed = 3 };

class Coordinator {
 public:
  Coordinator(PreparedJob job, comm::Transport& t, CoordinatorOptions o);

  // kRequest, kDone, kFail and kProgress messages.
  void on_message(const comm::Message& m);
  // Rank 0's own error, reported like any other rank's.
  void on_local_failure(const std::string& error);
  // SIGINT/SIGTERM on some rank: hand out nothing more, drop what is in flight.
  void on_signal(int signal, int rank, const std::string& host);
  // Rank 0's own heartbeat (the others send kProgress).
  void on_local_progress(const nlohmann::json& heartbeat);
  // Between units of work: the progress line, the metrics file, the stall check.
  void tick();

  bool finished() const { return finished_; }
  // Set when a rank has gone silent past the stall timeout: the job cannot
  // end in order (the silent rank would never answer), so it is aborted.
  const std::string& stalled() const { return stalled_; }
  int exit_code() const;
  const std::string& failure() const { return failure_; }
  int signal() const { return signal_; }
  size_t images_written() const { return written_; }
  const std::vector<ItemFailure>& item_failures() const { return failed_; }
  const PreparedJob& job() const { return job_; }
  ProgressSnapshot snapshot() const;
  // The closing lines: failures, and how to resume when items are left.
  void print_end();

 private:
  struct Batch {
    std::vector<int64_t> items;
    std::chrono::steady_clock::time_point admitted;
  };
  struct RankState {
    std::chrono::steady_clock::time_point heard;
    nlohmann::json heartbeat;
  };
  void on_done(const comm::Message& m);
 public:
  // One line per other rank: what rank 0 last heard from it and when.
  std::string last_heard() const;

 private:
  std::string silence(const RankState& s, std::chrono::steady_clock::time_point now) const;
  void stop(std::string why);
  void shutdown_all();
  void write_metrics();

  PreparedJob job_;
  std::unique_ptr<Journal> journal_;
  comm::Transport& t_;
  CoordinatorOptions o_;
  std::deque<std::vector<JobItem>> queue_;
  std::map<int64_t, Batch> in_flight_;
  std::map<int, RankState> ranks_;
  ProgressDisplay display_;
  size_t to_settle_ = 0, written_ = 0;
  std::vector<ItemFailure> failed_;
  int64_t next_id_ = 0;
  bool finished_ = false;
  std::string failure_, stalled_;
  int signal_ = 0;
  std::chrono::steady_clock::time_point start_, metrics_at_{};
};

}  // namespace farm
