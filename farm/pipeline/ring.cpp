#include "farm/pipeline/ring.h"

#include <algorithm>
#include <chrono>

#include "farm/comm/wire.h"
#include "farm/core/error.h"

namespace farm::pipeline {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Adds the time of a scope to a counter (and to the busy trace).
class Timed {
 public:
  explicit Timed(double& acc) : acc_(acc), t0_(now_s()) {}
  ~Timed() { acc_ += now_s() - t0_; }

 private:
  double& acc_;
  double t0_;
};

}  // namespace

RingStage::RingStage(const SdModel& m, RingLayout layout, comm::Transport& t, ImageEncoder encode)
    : model_(m), be_(*m.backend), layout_(std::move(layout)), t_(t), encode_(std::move(encode)) {
  FARM_ASSERT(layout_.ranks() == t_.size(), "layout of ", layout_.ranks(), " ranks on ", t_.size());
  pipeline_ = layout_.pipeline_of(t_.rank());
  stage_ = layout_.stage_of(t_.rank());
  std::tie(begin_, end_) = layout_.ranges.at(static_cast<size_t>(stage_));
}

void RingStage::on_message(comm::Message m) {
  if (m.tag == kAssign) {
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
    return;
  }
  FARM_ASSERT(m.tag == kState, "stage got tag ", m.tag);
  // Decoding is this rank's work as much as encoding is (the simulator
  // charges both to the stage), so it counts as busy.
  const double t0 = now_s();
  inbox_.push_back(decode_state(m.bytes, m.source));
  stats.wire_s += mark_busy(t0) - t0;
}

double RingStage::mark_busy(double t0) {
  const double t1 = now_s();
  stats.busy_s += t1 - t0;
  if (stats.trace) stats.busy.emplace_back(t0, t1);
  return t1;
}

void RingStage::request_work() {
  if (!first() || requested_ || no_more_ || !admissions_.empty()) return;
  t_.send(0, kRequest, comm::WireWriter(nlohmann::json{{"pipeline", pipeline_}}).take());
  requested_ = true;
}

bool RingStage::work() {
  const auto timed = [&](auto&& f) {
    const double t0 = now_s();
    f();
    mark_busy(t0);
    return t0;
  };
  if (!decodes_.empty() && decode_credit_ > 0) {
    --decode_credit_;
    timed([&] { decode_part(); });
    return true;
  }
  // Stage 0 serves states already in the ring before admitting new ones:
  // they finish sooner and free their slots.
  if (!inbox_.empty()) {
    RingState s = std::move(inbox_.front());
    inbox_.pop_front();
    timed([&] { run_blocks(std::move(s)); });
    return true;
  }
  if (first() && !admissions_.empty() && in_flight_ < layout_.in_flight_limit()) {
    Admission a = std::move(admissions_.front());
    admissions_.pop_front();
    const double t0 = timed([&] { admit(std::move(a)); });
    if (stats.trace) stats.admissions.push_back(t0);
    return true;
  }
  if (!decodes_.empty()) {  // nothing else to do: decode ahead
    timed([&] { decode_part(); });
    return true;
  }
  return false;
}

void RingStage::admit(Admission a) {
  std::vector<Txt2ImgRequest> reqs;
  for (const auto& it : a.items) reqs.push_back(it.request);
  auto loop = std::make_unique<DenoiseLoop>(model_, std::move(reqs));
  RingState s;
  s.id = a.id;
  s.step = 0;
  s.steps = loop->steps();
  s.items = std::move(a.items);
  {
    Timed t(stats.text_s);
    s.unet.context = encode_prompts(model_, loop->row_prompts(), loop->clip_skip());
  }
  loop->model_input(0, s.unet.h, s.unet.timesteps);
  // The last stage keeps the sampler state; on another rank it rebuilds the
  // same loop (same seeds, same noise) when step 0 reaches it.
  if (last()) loops_[s.id] = std::move(loop);
  ++in_flight_;
  ++stats.admitted;
  run_blocks(std::move(s));
}

void RingStage::run_blocks(RingState s) {
  const kernels::DeviceCounters before = be_.counters();
  {
    Timed t(stats.unet_s);
    model_.unet->run(be_, s.unet, begin_, end_);
    // The host needs the output: the sampler on the last stage, the wire on others.
    if (last()) s.unet.h = be_.to_host(s.unet.h);
  }
  count_pass(be_.counters() - before);
  if (!last() && s.step == s.steps - 1) first_done_ = true;
  // Its last pass through stage 0 frees the micro-batch's slot.
  if (first() && s.step == s.steps - 1) --in_flight_;
  if (!last()) {
    send_state(stage_ + 1, s);
    return;
  }
  finish_step(std::move(s));
}

void RingStage::count_pass(const kernels::DeviceCounters& d) {
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

void RingStage::finish_step(RingState s) {
  auto it = loops_.find(s.id);
  if (it == loops_.end()) {
    FARM_ASSERT(s.step == 0, "micro-batch ", s.id, " reached the last stage at step ", s.step, " without its loop");
    std::vector<Txt2ImgRequest> reqs;
    for (const auto& item : s.items) reqs.push_back(item.request);
    it = loops_.emplace(s.id, std::make_unique<DenoiseLoop>(model_, std::move(reqs))).first;
  }
  DenoiseLoop& loop = *it->second;
  loop.advance(s.step, s.unet.h);
  const int parts = model_.vae->parts();
  decode_credit_ = (parts + s.steps - 1) / s.steps;
  if (s.step + 1 < s.steps) {
    RingState next;
    next.id = s.id;
    next.step = s.step + 1;
    next.steps = s.steps;
    next.items = std::move(s.items);
    next.unet.context = std::move(s.unet.context);
    loop.model_input(next.step, next.unet.h, next.unet.timesteps);
    if (first()) inbox_.push_back(std::move(next));  // S = 1: the ring is this rank
    else send_state(0, next);
    return;
  }
  Decode d;
  d.s.id = s.id;
  d.s.steps = s.steps;
  d.s.items = std::move(s.items);
  d.h = vae_input(model_, loop.latents());
  loops_.erase(it);
  decodes_.push_back(std::move(d));
}

void RingStage::decode_part() {
  Decode& d = decodes_.front();
  {
    Timed t(stats.vae_s);
    model_.vae->run_part(be_, d.next_part++, d.h);
  }
  if (d.next_part < model_.vae->parts()) return;
  Timed t(stats.encode_s);
  const auto images = rgb_images(be_.image_to_rgb8(d.h), d.h.shape);  // only the bytes leave the device
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : d.s.items) items.push_back(item.meta);
  std::vector<comm::Bytes> files;
  for (size_t k = 0; k < images.size(); ++k) files.push_back(encode_(d.s.items[k], images[k]));
  comm::WireWriter w(nlohmann::json{{"id", d.s.id}, {"rank", t_.rank()}, {"items", items}});
  for (const auto& f : files) w.blob(f);
  t_.send(0, kDone, w.take());
  decodes_.pop_front();
  ++stats.finished;
  first_done_ = true;
  if (stats.trace) stats.completions.push_back(now_s());
}

void RingStage::send_state(int stage, const RingState& s) {
  Timed t(stats.wire_s);
  // Over MPI the state travels through the host; 16-bit values survive fp32 exactly.
  RingState host;
  host.id = s.id, host.step = s.step, host.steps = s.steps, host.items = s.items;
  host.unet.h = be_.to_host(s.unet.h);
  host.unet.timesteps = s.unet.timesteps;
  host.unet.context = be_.to_host(s.unet.context);
  if (s.unet.temb.defined()) host.unet.temb = be_.to_host(s.unet.temb);
  for (const auto& k : s.unet.skips) host.unet.skips.push_back(be_.to_host(k));
  comm::Bytes b = encode_state(host);
  stats.state_bytes_sent += static_cast<int64_t>(b.size());
  ++stats.states_sent;
  t_.send(layout_.rank_of(pipeline_, stage), kState, std::move(b));
}

}  // namespace farm::pipeline
