#include "farm/pipeline/ring_stage_base.h"

#include <algorithm>
#include <cmath>

#include "farm/comm/clock_sync.h"
#include "farm/comm/wire.h"
#include "farm/core/error.h"

namespace farm::pipeline {

double ring_now_s() { return comm::steady_clock_s(); }

StatePart state_part(PartKind kind, int64_t id, int step, int steps) {
  StatePart p;
  p.kind = kind, p.id = id, p.step = step, p.steps = steps;
  return p;
}

RingStageBase::RingStageBase(kernels::Backend& be, RingLayout layout, comm::Transport& t, ImageEncoder encode,
                             kernels::TensorLink* link)
    : be_(be), layout_(std::move(layout)), t_(t), encode_(std::move(encode)), link_(link) {
  FARM_ASSERT(layout_.ranks() == t_.size(), "layout of ", layout_.ranks(), " ranks on ", t_.size());
  pipeline_ = layout_.pipeline_of(t_.rank());
  stage_ = layout_.stage_of(t_.rank());
  std::tie(begin_, end_) = layout_.ranges.at(static_cast<size_t>(stage_));
  if (link_) stats.tensors_over = link_->name();
}

void RingStageBase::take_assignment(const comm::Message& m) {
  FARM_ASSERT(first(), "assignment sent to stage ", stage_);
  requested_ = false;
  comm::WireReader r(m.bytes, "assignment");
  const auto& h = r.header();
  if (h.value("none", false)) {
    no_more_ = true;
    return;
  }
  Admission a{h.at("id").get<int64_t>(), {}};
  for (const auto& j : h.at("items")) a.items.push_back(ring_item_from_json(j));
  admissions_.push_back(std::move(a));
}

void RingStageBase::on_message(comm::Message m) {
  if (m.tag == kAssign) return take_assignment(m);
  FARM_ASSERT(m.tag == kState, "stage got tag ", m.tag);
  const double t0 = ring_now_s();
  StatePart p = receive_part(m, link_);
  if (stats.trace) {
    stats.receives.push_back({t0, m.source, static_cast<int64_t>(m.bytes.size()), p.id, p.step, kind_name(p.kind)});
    busy_what_ = {"receive", p.id, p.step};
  }
  take_part(std::move(p));
  stats.wire_s += mark_busy(t0) - t0;
}

double RingStageBase::mark_busy(double t0) {
  const double t1 = ring_now_s();
  stats.busy_s += t1 - t0;
  if (stats.trace) {
    stats.busy.emplace_back(t0, t1);
    stats.busy_what.push_back(busy_what_);
    busy_what_ = {};
  }
  return t1;
}

double RingStageBase::timed(const std::function<void()>& f) {
  const double t0 = ring_now_s();
  f();
  mark_busy(t0);
  return t0;
}

bool RingStageBase::work() {
  if (decoding() && decode_credit_ > 0) {
    --decode_credit_;
    timed([&] { decode_part(); });
    return true;
  }
  if (state_ready()) {
    const double t0 = timed([&] { run_next_state(); });
    if (first()) pass_s_ = pass_s_ == 0 ? ring_now_s() - t0 : 0.8 * pass_s_ + 0.2 * (ring_now_s() - t0);
    return true;
  }
  if (first() && !admissions_.empty() && in_flight_ < window()) {
    stats.window = std::max(stats.window, in_flight_ + 1);
    Admission a = std::move(admissions_.front());
    admissions_.pop_front();
    const double t0 = timed([&] { admit(std::move(a)); });
    if (stats.trace) stats.admissions.push_back(t0);
    return true;
  }
  if (decoding()) {  // nothing else to do: decode ahead
    timed([&] { decode_part(); });
    return true;
  }
  return false;
}

void RingStageBase::request_work() {
  if (!first() || requested_ || no_more_ || !admissions_.empty()) return;
  t_.send(0, kRequest, comm::WireWriter(nlohmann::json{{"pipeline", pipeline_}}).take());
  requested_ = true;
}

int RingStageBase::window() const {
  const int base = layout_.in_flight_limit();
  if (layout_.window_fixed || ring_latency_s_ <= 0 || pass_s_ <= 0) return base;
  const double extra = ring_latency_s_ / pass_s_;
  if (extra < 0.25) return base;  // links fast next to a pass: as if instant
  return base + std::min(static_cast<int>(std::ceil(extra)), 4 * base);
}

void RingStageBase::count_pass(const kernels::DeviceCounters& d) {
  // Steady state begins once a micro-batch is done with this rank (on the
  // last stage: decoded): by then the device allocator has served every
  // pattern of buffers that a pass, overlapping a decode or not, needs.
  ++stats.unet_passes;
  if (!first_done_) return;
  auto& m = stats.pass_max;
  auto& a = stats.pass_sum;
  m.h2d_bytes = std::max(m.h2d_bytes, d.h2d_bytes), a.h2d_bytes += d.h2d_bytes;
  m.d2h_bytes = std::max(m.d2h_bytes, d.d2h_bytes), a.d2h_bytes += d.d2h_bytes;
  m.allocations = std::max(m.allocations, d.allocations), a.allocations += d.allocations;
  m.syncs = std::max(m.syncs, d.syncs), a.syncs += d.syncs;
  m.stream_syncs = std::max(m.stream_syncs, d.stream_syncs), a.stream_syncs += d.stream_syncs;
  m.launches = std::max(m.launches, d.launches), a.launches += d.launches;
  ++stats.steady_passes;
}

std::vector<std::string> RingStageBase::check_latents(Tensor& latents, const std::vector<RingItem>& items) const {
  const size_t n = items.size(), per = latents.data.size() / std::max<size_t>(n, 1);
  std::vector<std::string> errors(n);
  for (size_t k = 0; k < n; ++k) {
    float* x = latents.data.data() + k * per;
    if (std::find(fault_items_.begin(), fault_items_.end(), items[k].index) != fault_items_.end())
      x[per / 2] = std::nanf("");
    size_t bad = 0;
    for (size_t i = 0; i < per; ++i) bad += !std::isfinite(x[i]);
    if (!bad) continue;
    errors[k] = cat("the final latent has ", bad, " non-finite values of ", per, "; no image was written");
    std::fill(x, x + per, 0.0f);
  }
  return errors;
}

void RingStageBase::report_done(int64_t id, const std::vector<RingItem>& items, std::vector<std::string> errors,
                                const std::vector<RgbImage>& images) {
  Timed t(stats.encode_s);
  nlohmann::json out = nlohmann::json::array();
  std::vector<comm::Bytes> files;
  for (size_t k = 0; k < items.size(); ++k) {
    if (errors[k].empty()) {
      try {
        files.push_back(encode_(items[k], images.at(k)));
      } catch (const std::exception& e) {
        errors[k] = cat("encoding the PNG failed: ", e.what());
      }
    }
    out.push_back({{"index", items[k].index}, {"error", errors[k]}});
  }
  comm::WireWriter w(nlohmann::json{{"id", id}, {"rank", t_.rank()}, {"items", out}});
  for (const auto& f : files) w.blob(f);
  t_.send(0, kDone, w.take());
  progress_.erase(id);
  ++stats.finished;
  first_done_ = true;
  if (stats.trace) stats.completions.push_back(ring_now_s());
}

std::vector<BatchProgress> RingStageBase::progress() const {
  std::vector<BatchProgress> out;
  for (const auto& [id, p] : progress_) out.push_back(p);
  return out;
}

void RingStageBase::send(int stage, StatePart p) {
  Timed t(stats.wire_s);
  StateTransfer sent{stats.trace ? ring_now_s() : 0, layout_.rank_of(pipeline_, stage), 0, p.id, p.step,
                     kind_name(p.kind)};
  const int64_t link_before = link_ ? link_->bytes_sent() : 0;
  const uint64_t sent_before = t_.traffic().bytes_sent;
  stats.tensor_bytes_sent += send_part(t_, link_, be_, sent.peer, std::move(p));
  const int64_t linked = link_ ? link_->bytes_sent() - link_before : 0;
  stats.link_bytes_sent += linked;
  sent.bytes = static_cast<int64_t>(t_.traffic().bytes_sent - sent_before) + linked;
  stats.state_bytes_sent += sent.bytes;
  if (stats.trace) stats.sends.push_back(sent);
  ++stats.states_sent;
}

}  // namespace farm::pipeline
