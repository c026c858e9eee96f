#include "farm/coord/coordinator.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "farm/comm/wire.h"
#include "farm/coord/atomic_file.h"
#include "farm/coord/job_item_json.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"
#include "farm/pipeline/ring_messages.h"

namespace farm {

using namespace pipeline;  // RingTag, RingItem

namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Coordinator::Coordinator(PreparedJob job, comm::Transport& t, CoordinatorOptions o)
    : job_(std::move(job)), journal_(std::make_unique<Journal>(job_.journal_path)), t_(t), o_(std::move(o)),
      display_(o_.terminal, o_.progress_every_s), start_(std::chrono::steady_clock::now()) {
  // Only now, with every rank started: a job that cannot start leaves no trace.
  journal_->append(journal_line(job_.run_record));
  for (auto& mb : job_.micro_batches) {
    to_settle_ += mb.size();
    queue_.push_back(std::move(mb));
  }
  job_.micro_batches.clear();
  for (int r = 0; r < t_.size(); ++r) ranks_[r].heard = start_;
  if (to_settle_ == 0) shutdown_all();
}

void Coordinator::on_message(const comm::Message& m) {
  if (m.tag == kProgress) {
    comm::WireReader r(m.bytes, cat("heartbeat from rank ", m.source));
    ranks_[m.source] = RankState{std::chrono::steady_clock::now(), r.header()};
    return;
  }
  if (finished_) return;  // late messages after the end
  ranks_[m.source].heard = std::chrono::steady_clock::now();
  if (m.tag == kRequest) {
    nlohmann::json h = {{"none", true}};
    if (!queue_.empty()) {
      // Each item goes out once, whole; everything after refers to its index.
      nlohmann::json items = nlohmann::json::array();
      Batch b{{}, std::chrono::steady_clock::now()};
      for (const auto& it : queue_.front()) {
        items.push_back(to_json(RingItem{it.index, to_request(it), nlohmann::json::parse(job_item_to_json(it))}));
        b.items.push_back(it.index);
      }
      in_flight_[next_id_] = std::move(b);
      h = {{"id", next_id_++}, {"items", items}};
      queue_.pop_front();
    }
    t_.send(m.source, kAssign, comm::WireWriter(h).take());
    return;
  }
  if (m.tag == kFail) {
    comm::WireReader r(m.bytes, "failure report");
    const auto& h = r.header();
    if (h.contains("signal")) return on_signal(h.at("signal").get<int>(), h.at("rank").get<int>(), h.at("host"));
    stop(cat("rank ", h.at("rank").get<int>(), " (host ", h.at("host").get<std::string>(),
             "): ", h.at("error").get<std::string>()));
    return;
  }
  FARM_ASSERT(m.tag == kDone, "coordinator got tag ", m.tag);
  on_done(m);
}

void Coordinator::on_done(const comm::Message& m) {
  comm::WireReader r(m.bytes, cat("finished images from rank ", m.source));
  const auto& h = r.header();
  const auto batch = in_flight_.find(h.at("id").get<int64_t>());
  FARM_ASSERT(batch != in_flight_.end(), "rank ", m.source, " finished micro-batch ", h.at("id"), " twice");
  const double render_s = seconds(std::chrono::steady_clock::now() - batch->second.admitted);
  in_flight_.erase(batch);
  for (const auto& entry : h.at("items")) {
    const int64_t index = entry.at("index").get<int64_t>();
    const JobItem& it = job_.items.at(job_.at(index));
    JournalRecord rec;
    rec.index = index;
    rec.key = job_.keys.at(job_.at(index));
    rec.seed = it.seed;
    rec.rank = m.source;
    rec.render_s = render_s;
    rec.model = job_.model_name;
    rec.item = it;
    const std::string error = entry.at("error").get<std::string>();
    std::vector<uint8_t> png;
    if (error.empty()) {
      png = r.blob();
      rec.status = "done";
      rec.file = job_.files.at(job_.at(index));
      rec.sha256 = sha256_hex(png.data(), png.size());
      // The image first, whole (rename), then its record: a record never
      // names a file that is not there.
      const auto path = std::filesystem::path(job_.out_dir) / rec.file;
      if (rec.file.find('/') != std::string::npos) std::filesystem::create_directories(path.parent_path());
      write_file_atomic(path.string(), png);
      ++written_;
    } else {
      rec.status = "failed";
      rec.reason = error;
      failed_.push_back({index, it.source, error, it.line});
      display_.end_line();
      std::fprintf(stderr, "farm: item %lld (%s:%d) failed: %s\n", static_cast<long long>(index), it.source.c_str(),
                   it.line, error.c_str());
    }
    journal_->append(journal_line(rec));
    if (rec.status == "done" && o_.on_written) o_.on_written(rec, png);
    --to_settle_;
  }
  if (o_.max_failures >= 0 && failed_.size() > static_cast<size_t>(o_.max_failures))
    return stop(cat(failed_.size(), " items failed, more than --max-failures ", o_.max_failures));
  display_.show(snapshot());
  if (to_settle_ == 0) shutdown_all();
}

void Coordinator::on_local_failure(const std::string& error) {
  if (finished_) return;
  stop(cat("rank ", t_.rank(), " (host ", t_.host(), "): ", error));
}

void Coordinator::on_signal(int signal, int rank, const std::string& host) {
  if (finished_) return;
  signal_ = signal;
  display_.end_line();
  std::fprintf(stderr, "farm: %s on rank %d (host %s): stopping; what is in flight is dropped\n",
               signal == 2 ? "SIGINT" : signal == 15 ? "SIGTERM" : signal == 10 ? "SIGUSR1" : cat("signal ", signal).c_str(),
               rank, host.c_str());
  shutdown_all();
}

std::string Coordinator::last_heard() const {
  const auto now = std::chrono::steady_clock::now();
  std::string out;
  for (const auto& [r, st] : ranks_)
    if (r != t_.rank()) out += cat("  rank ", r, " ", silence(st, now), "\n");
  return out;
}

// "(host H) has sent nothing for N s; it was last DOING, holding ...": what
// rank 0 knows of a rank from its last heartbeat.
std::string Coordinator::silence(const RankState& s, std::chrono::steady_clock::time_point now) const {
  const bool beat = s.heartbeat.is_object();
  std::string held;
  if (beat && s.heartbeat.contains("batches"))
    for (const auto& b : s.heartbeat.at("batches"))
      held += cat(held.empty() ? ", holding micro-batch " : ", ", b.at(0).get<int64_t>(), " (step ",
                  b.at(1).get<int>() + 1, "/", b.at(2).get<int>(), ")");
  return cat("(host ", beat ? s.heartbeat.value("host", "?") : "?", ") has sent nothing for ",
             static_cast<int>(seconds(now - s.heard)), " s; it was last ",
             beat ? s.heartbeat.value("doing", "starting") : "starting", held);
}

void Coordinator::on_local_progress(const nlohmann::json& heartbeat) {
  ranks_[t_.rank()] = RankState{std::chrono::steady_clock::now(), heartbeat};
}

void Coordinator::tick() {
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [rank, s] : ranks_) {
    // Later than the rank's own watchdog (rank_watch.h), whose message says
    // more: this one catches what cannot report itself (a stopped process, a
    // lost host).
    if (rank == t_.rank() || seconds(now - s.heard) <= o_.stall_timeout_s + std::max(2.0, o_.stall_timeout_s / 4))
      continue;
    stalled_ = cat("rank ", rank, " ", silence(s, now), " (--stall-timeout ", o_.stall_timeout_s,
                   " s): its process stopped or its host is unreachable");
    finished_ = true;
    return;
  }
  display_.show(snapshot());
  if (!o_.metrics_file.empty() && seconds(now - metrics_at_) >= std::min(5.0, o_.progress_every_s)) write_metrics();
}

ProgressSnapshot Coordinator::snapshot() const {
  ProgressSnapshot s;
  s.total = job_.items.size();
  s.already_done = job_.already_done;
  s.done = written_;
  s.failed = failed_.size();
  s.queued = queue_.size();
  s.elapsed_s = seconds(std::chrono::steady_clock::now() - start_);
  std::map<int64_t, InFlight> furthest;
  for (const auto& [rank, st] : ranks_) {
    if (!st.heartbeat.is_object()) continue;
    s.ranks.push_back({rank, st.heartbeat.value("stage", 0), st.heartbeat.value("host", ""),
                       st.heartbeat.value("doing", ""), st.heartbeat.value("busy_s", 0.0)});
    for (const auto& b : st.heartbeat.value("batches", nlohmann::json::array())) {
      InFlight f{b.at(0).get<int64_t>(), b.at(1).get<int>(), b.at(2).get<int>(), b.at(3).get<int>()};
      if (!in_flight_.count(f.id)) continue;
      auto [it, fresh] = furthest.emplace(f.id, f);
      if (!fresh && f.step > it->second.step) it->second = f;
    }
  }
  for (const auto& [id, f] : furthest) s.in_flight.push_back(f);
  return s;
}

void Coordinator::write_metrics() {
  metrics_at_ = std::chrono::steady_clock::now();
  write_file_atomic(o_.metrics_file, metrics_text(snapshot()));
}

int Coordinator::exit_code() const {
  if (signal_) return 128 + signal_;
  if (!failure_.empty() || !stalled_.empty()) return kJobError;
  return failed_.empty() ? kAllRendered : kItemsFailed;
}

void Coordinator::print_end() {
  display_.show(snapshot(), true);
  display_.end_line();
  if (!o_.metrics_file.empty()) write_metrics();
  if (!failed_.empty()) {
    std::fprintf(stderr, "farm: %zu items failed (journal.jsonl has each reason; a rerun tries them again):\n",
                 failed_.size());
    for (size_t k = 0; k < failed_.size() && k < 20; ++k)
      std::fprintf(stderr, "  item %lld (%s:%d): %s\n", static_cast<long long>(failed_[k].index),
                   failed_[k].source.c_str(), failed_[k].line, failed_[k].reason.c_str());
    if (failed_.size() > 20) std::fprintf(stderr, "  ...\n");
  }
  const size_t left = job_.items.size() - job_.already_done - written_;
  if (left > failed_.size() || signal_ || !failure_.empty() || !stalled_.empty())
    std::fprintf(stderr, "farm: %zu images written and journaled in %s; %zu items are not rendered yet: rerun the "
                 "same command to render them (done items are skipped)\n",
                 job_.already_done + written_, job_.out_dir.c_str(), left);
}

void Coordinator::stop(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  shutdown_all();
}

void Coordinator::shutdown_all() {
  finished_ = true;
  for (int r = 0; r < t_.size(); ++r) t_.send(r, kShutdown, {});
}

}  // namespace farm
