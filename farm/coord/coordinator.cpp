#include "farm/coord/coordinator.h"

#include <cstdio>
#include <filesystem>

#include "farm/comm/wire.h"
#include "farm/coord/atomic_file.h"
#include "farm/coord/image_metadata.h"
#include "farm/coord/job_item_json.h"
#include "farm/core/error.h"
#include "farm/pipeline/ring_messages.h"

namespace farm {

using namespace pipeline;  // RingTag, RingItem

Coordinator::Coordinator(std::vector<std::vector<JobItem>> micro_batches, std::string out_dir, comm::Transport& t,
                         size_t job_items, size_t already_present)
    : out_dir_(std::move(out_dir)), t_(t), job_items_(job_items), already_present_(already_present),
      start_(std::chrono::steady_clock::now()) {
  for (auto& mb : micro_batches) {
    to_write_ += mb.size();
    queue_.push_back(std::move(mb));
  }
  if (to_write_ == 0) shutdown_all();
}

void Coordinator::on_message(const comm::Message& m) {
  if (finished_) return;  // late messages after a failure
  if (m.tag == kRequest) {
    nlohmann::json h = {{"none", true}};
    if (!queue_.empty()) {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& it : queue_.front()) {
        items.push_back(to_json(RingItem{to_request(it), job_item_to_json(it)}));
      }
      h = {{"id", next_id_++}, {"items", items}};
      queue_.pop_front();
    }
    t_.send(m.source, kAssign, comm::WireWriter(h).take());
    return;
  }
  if (m.tag == kFail) {
    comm::WireReader r(m.bytes, "failure report");
    const auto& h = r.header();
    failure_ = cat("rank ", h.at("rank").get<int>(), " (host ", h.at("host").get<std::string>(),
                   "): ", h.at("error").get<std::string>());
    shutdown_all();
    return;
  }
  FARM_ASSERT(m.tag == kDone, "coordinator got tag ", m.tag);
  comm::WireReader r(m.bytes, cat("finished images from rank ", m.source));
  for (const auto& meta : r.header().at("items")) {
    const JobItem it = job_item_from_json(meta.get<std::string>());
    const auto path = (std::filesystem::path(out_dir_) / image_file_name(it)).string();
    write_file_atomic(path, r.blob());
    ++written_;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "[%zu/%zu] %s  %s  (rank %d, %.2f images/s)\n", written_ + already_present_, job_items_,
                 path.c_str(), it.prompt.substr(0, 50).c_str(), m.source, static_cast<double>(written_) / secs);
  }
  if (written_ == to_write_) shutdown_all();
}

void Coordinator::on_local_failure(const std::string& error) {
  if (finished_) return;
  failure_ = cat("rank ", t_.rank(), " (host ", t_.host(), "): ", error);
  shutdown_all();
}

void Coordinator::shutdown_all() {
  finished_ = true;
  for (int r = 0; r < t_.size(); ++r) t_.send(r, kShutdown, {});
}

}  // namespace farm
