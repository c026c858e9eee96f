// The coordinator (rank 0's second role): hands micro-batches to the
// pipelines that ask for them — each pipeline's stage 0 asks when its queue
// runs dry, so faster pipelines simply get more — writes the finished
// images it receives, reports progress, and ends the job: a shutdown to
// every rank when the last image is written or when any rank reports a
// failure (named by rank and host).
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/coord/job.h"

namespace farm {

class Coordinator {
 public:
  Coordinator(std::vector<std::vector<JobItem>> micro_batches, std::string out_dir, comm::Transport& t,
              size_t job_items, size_t already_present);

  // kRequest, kDone and kFail messages.
  void on_message(const comm::Message& m);
  // Rank 0's own failure, reported like any other rank's.
  void on_local_failure(const std::string& error);
  bool finished() const { return finished_; }
  int exit_code() const { return failure_.empty() ? 0 : 1; }
  const std::string& failure() const { return failure_; }
  size_t images_written() const { return written_; }

 private:
  void shutdown_all();

  std::deque<std::vector<JobItem>> queue_;
  std::string out_dir_;
  comm::Transport& t_;
  size_t job_items_, already_present_, to_write_ = 0, written_ = 0;
  int64_t next_id_ = 0;
  bool finished_ = false;
  std::string failure_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace farm
