// What rank 0 shows while a job runs: done/total, failures, images/s, ETA and
// the steps of the micro-batches in flight, as one line redrawn in place on a
// terminal or a line every few seconds into a log; and the same figures as a
// Prometheus textfile (node-exporter's textfile collector convention:
// rewritten atomically, so a scrape never sees half a file).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace farm {

struct RankActivity {
  int rank = 0, stage = 0;
  std::string host, doing;
  double busy_s = 0;  // computing, since the job's rendering started
};

struct InFlight {
  int64_t id = 0;
  int step = 0, steps = 0, items = 0;  // the furthest step any stage has begun
};

struct ProgressSnapshot {
  size_t total = 0;          // items in the job
  size_t already_done = 0;   // done by earlier runs
  size_t done = 0, failed = 0;  // in this run
  size_t queued = 0;         // micro-batches not yet handed out
  double elapsed_s = 0;      // since rendering started
  std::vector<InFlight> in_flight;
  std::vector<RankActivity> ranks;

  double images_per_s() const { return elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0; }
  // Seconds left at this run's rate; negative while nothing has finished.
  double eta_s() const;
};

std::string progress_text(const ProgressSnapshot& s);
std::string metrics_text(const ProgressSnapshot& s);

class ProgressDisplay {
 public:
  // terminal: redraw one line (stderr is a tty); else a line every `every_s`.
  ProgressDisplay(bool terminal, double every_s) : terminal_(terminal), every_s_(every_s) {}
  void show(const ProgressSnapshot& s, bool force = false);
  // Ends a redrawn line, so the next message starts on a fresh one.
  void end_line();

 private:
  bool terminal_;
  double every_s_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace farm
