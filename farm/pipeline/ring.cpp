#include "farm/pipeline/ring.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "farm/comm/clock_sync.h"
#include "farm/comm/wire.h"
#include "farm/core/error.h"
#include "farm/pipeline/conditioning.h"

namespace farm::pipeline {

namespace {

double now_s() { return comm::steady_clock_s(); }  // the clock of traces too

// Adds the time of a scope to a counter (and to the busy trace).
class Timed {
 public:
  explicit Timed(double& acc) : acc_(acc), t0_(now_s()) {}
  ~Timed() { acc_ += now_s() - t0_; }

 private:
  double& acc_;
  double t0_;
};

StatePart part(PartKind kind, int64_t id, int step, int steps) {
  StatePart p;
  p.kind = kind, p.id = id, p.step = step, p.steps = steps;
  return p;
}

// Per item, "" or why its latent cannot make an image (a non-finite value:
// guidance far too high, a numerical fault). The items in `poison` get a NaN
// first: the failure-path tests' way to make one (FARM_FAULT_ITEMS).
std::vector<std::string> check_latents(Tensor& latents, const std::vector<RingItem>& items,
                                       const std::vector<int64_t>& poison) {
  const size_t n = items.size(), per = latents.data.size() / std::max<size_t>(n, 1);
  std::vector<std::string> errors(n);
  for (size_t k = 0; k < n; ++k) {
    float* x = latents.data.data() + k * per;
    if (std::find(poison.begin(), poison.end(), items[k].index) != poison.end()) x[per / 2] = std::nanf("");
    size_t bad = 0;
    for (size_t i = 0; i < per; ++i) bad += !std::isfinite(x[i]);
    if (!bad) continue;
    errors[k] = cat("the final latent has ", bad, " non-finite values of ", per, "; no image was written");
    std::fill(x, x + per, 0.0f);  // its batch-mates decode as usual; this row's pixels are dropped
  }
  return errors;
}

}  // namespace

RingStage::RingStage(const SdModel& m, RingLayout layout, comm::Transport& t, ImageEncoder encode,
                     kernels::TensorLink* link, const SdModel* refiner)
    : model_(m),
      be_(*m.backend),
      layout_(std::move(layout)),
      t_(t),
      encode_(std::move(encode)),
      link_(link),
      routes_(m.unet->blocks(), layout_) {
  FARM_ASSERT(layout_.ranks() == t_.size(), "layout of ", layout_.ranks(), " ranks on ", t_.size());
  pipeline_ = layout_.pipeline_of(t_.rank());
  stage_ = layout_.stage_of(t_.rank());
  std::tie(begin_, end_) = layout_.ranges.at(static_cast<size_t>(stage_));
  const auto first_block_stage = [](const std::vector<std::pair<size_t, size_t>>& r) {
    int s = 0;
    while (r[static_cast<size_t>(s)].first == r[static_cast<size_t>(s)].second) ++s;
    return s;
  };
  added_stage_ = first_block_stage(layout_.ranges);
  FARM_ASSERT(layout_.has_refiner() == (refiner != nullptr), "a refiner without its ranges, or ranges without it");
  if (refiner) {
    refiner_ = refiner;
    routes_r_ = std::make_unique<RingRoutes>(refiner->unet->blocks(), layout_.refiner_layout());
    std::tie(begin_r_, end_r_) = layout_.refiner_ranges.at(static_cast<size_t>(stage_));
    added_stage_r_ = first_block_stage(layout_.refiner_ranges);
  }
  if (link_) stats.tensors_over = link_->name();
}

bool RingStage::gets_batch(int stage) const {
  if (stage == 0) return false;
  if (routes_.gets_batch(stage) || stage == added_stage_) return true;
  return refiner_ && (routes_r_->reads_context(stage) || stage == added_stage_r_);
}

void RingStage::fill_from_batch(RingState& s, const Batch& b) const {
  s.unet.context = s.refined ? b.context_r : b.context;
  s.unet.text_embeds = s.refined ? b.text_embeds_r : b.text_embeds;
  s.unet.time_ids = s.refined ? b.time_ids_r : b.time_ids;
  s.items = b.items;
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
  // Receiving is this rank's work as much as sending is (the simulator
  // charges both to the stage), so it counts as busy.
  const double t0 = now_s();
  StatePart p = receive_part(m, link_);
  if (stats.trace) {
    stats.receives.push_back({t0, m.source, static_cast<int64_t>(m.bytes.size()), p.id, p.step, kind_name(p.kind)});
    busy_what_ = {"receive", p.id, p.step};
  }
  take_part(std::move(p));
  stats.wire_s += mark_busy(t0) - t0;
}

void RingStage::take_part(StatePart p) {
  if (p.kind == PartKind::batch) {
    Batch& b = batches_[p.id];
    b.steps = p.steps;
    b.items = std::move(p.items);
    for (auto& [name, t] : p.tensors) {
      Tensor* slot = name == "context" ? &b.context : name == "text_embeds" ? &b.text_embeds
                   : name == "time_ids" ? &b.time_ids : name == "context_r" ? &b.context_r
                   : name == "text_embeds_r" ? &b.text_embeds_r : name == "time_ids_r" ? &b.time_ids_r : nullptr;
      if (!slot) fail("batch message of micro-batch ", p.id, " has an unexpected tensor '", name, "'");
      *slot = std::move(t);
    }
    for (auto it = gathering_.lower_bound({p.id, 0}); it != gathering_.end() && it->first.first == p.id;) {
      const int step = (it++)->first.second;  // try_ready may erase the entry
      try_ready(p.id, step);
    }
    return;
  }
  const int64_t id = p.id;
  const int step = p.step;
  Gathering& g = gathering_[{id, step}];
  if (p.kind == PartKind::skips) {
    FARM_ASSERT(p.skip_ids.size() == p.tensors.size(), "skips message with ", p.skip_ids.size(), " ids for ",
                p.tensors.size(), " tensors");
    for (size_t i = 0; i < p.tensors.size(); ++i) g.skips[p.skip_ids[i]] = std::move(p.tensors[i].second);
  } else {
    FARM_ASSERT(!g.has_hidden, "micro-batch ", id, " step ", step, ": a second hidden state");
    g.hidden = std::move(p);
    g.has_hidden = true;
  }
  try_ready(id, step);
}

void RingStage::try_ready(int64_t id, int step) {
  auto it = gathering_.find({id, step});
  if (it == gathering_.end()) return;
  Gathering& g = it->second;
  if (!g.has_hidden) return;  // it says which model's routes this step takes
  const auto& want = routes(g.hidden.refined).incoming(stage_);
  if (g.skips.size() < want.size()) return;
  const bool needs_batch = first() || gets_batch(stage_);
  auto b = batches_.find(id);
  if (needs_batch && b == batches_.end()) return;  // its batch message is still on the way
  RingState s;
  s.id = id;
  s.step = step;
  s.steps = g.hidden.steps;
  s.refined = g.hidden.refined;
  s.loras = std::move(g.hidden.loras);
  s.unet.latent_h = g.hidden.latent_h, s.unet.latent_w = g.hidden.latent_w;
  for (auto& [name, t] : g.hidden.tensors) {
    if (name == "h") s.unet.h = std::move(t);
    else if (name == "timesteps") s.unet.timesteps = std::move(t);
    else if (name == "temb") s.unet.temb = std::move(t);
    else fail("hidden state of micro-batch ", id, " has an unexpected tensor '", name, "'");
  }
  for (int k : want) {  // push order: the bottom of this stage's skip stack first
    auto sk = g.skips.find(k);
    FARM_ASSERT(sk != g.skips.end(), "micro-batch ", id, " step ", step, ": skip ", k, " missing");
    s.unet.skips.push_back(std::move(sk->second));
  }
  FARM_ASSERT(g.skips.size() == want.size(), "micro-batch ", id, " step ", step, ": ", g.skips.size(),
              " skips for ", want.size());
  gathering_.erase(it);
  if (b != batches_.end()) {
    fill_from_batch(s, b->second);
    if (step == s.steps - 1) batches_.erase(b);  // its last step here: no longer needed
  }
  inbox_.push_back(std::move(s));
}

double RingStage::mark_busy(double t0) {
  const double t1 = now_s();
  stats.busy_s += t1 - t0;
  if (stats.trace) {
    stats.busy.emplace_back(t0, t1);
    stats.busy_what.push_back(busy_what_);
    busy_what_ = {};
  }
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
    const double t0 = timed([&] { run_blocks(std::move(s)); });
    if (first()) {
      const double pass = now_s() - t0;
      pass_s_ = pass_s_ == 0 ? pass : 0.8 * pass_s_ + 0.2 * pass;
    }
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
  if (!decodes_.empty()) {  // nothing else to do: decode ahead
    timed([&] { decode_part(); });
    return true;
  }
  return false;
}

int RingStage::window() const {
  const int base = layout_.in_flight_limit();
  if (layout_.window_fixed || ring_latency_s_ <= 0 || pass_s_ <= 0) return base;
  const double extra = ring_latency_s_ / pass_s_;
  if (extra < 0.25) return base;  // links fast next to a pass: as if instant
  return base + std::min(static_cast<int>(std::ceil(extra)), 4 * base);
}

void RingStage::admit(Admission a) {
  std::vector<Txt2ImgRequest> reqs;
  for (const auto& it : a.items) reqs.push_back(it.request);
  auto loop = std::make_unique<DenoiseLoop>(model_, std::move(reqs), refiner_);
  RingState s;
  s.id = a.id;
  s.step = 0;
  s.steps = loop->steps();
  s.refined = loop->refined(0);
  s.items = std::move(a.items);
  s.loras = loop->loras();
  Batch b{s.steps, s.items, {}, {}, {}, {}, {}, {}};
  const bool base_steps = loop->base_steps() > 0, refiner_steps = loop->base_steps() < loop->steps();
  {
    Timed t(stats.text_s);
    const LoraScope loras(model_, s.loras);
    if (base_steps) {
      Conditioning c = encode_conditioning(model_, loop->row_prompts(), loop->clip_skip(), loop->reading(),
                                           loop->zeroed_rows());
      b.context = std::move(c.context), b.text_embeds = std::move(c.pooled), b.time_ids = loop->time_ids();
    }
    if (refiner_steps) {  // the refiner's own encoder; the LoRAs patch the base's layers only
      Conditioning c = encode_conditioning(*refiner_, loop->row_prompts(), loop->clip_skip(), loop->reading(),
                                           loop->zeroed_rows(true));
      b.context_r = std::move(c.context), b.text_embeds_r = std::move(c.pooled), b.time_ids_r = loop->time_ids(true);
    }
  }
  loop->model_input(0, s.unet.h, s.unet.timesteps);
  // Once per micro-batch: each model's context to the stages that read it,
  // its added conditioning to the stage of its first block, the items to the
  // last stage (it rebuilds the same loop: same seeds, same noise).
  for (int st = 1; st < layout_.stages; ++st) {
    if (!gets_batch(st)) continue;
    StatePart p = part(PartKind::batch, s.id, 0, s.steps);
    if (st == layout_.stages - 1) p.items = s.items;
    const auto add = [&](const char* name, const Tensor& t, bool wanted) {
      if (wanted && t.defined()) p.tensors.emplace_back(name, t);
    };
    add("context", b.context, base_steps && routes_.reads_context(st));
    add("text_embeds", b.text_embeds, base_steps && st == added_stage_);
    add("time_ids", b.time_ids, base_steps && st == added_stage_);
    if (refiner_) {
      add("context_r", b.context_r, refiner_steps && routes_r_->reads_context(st));
      add("text_embeds_r", b.text_embeds_r, refiner_steps && st == added_stage_r_);
      add("time_ids_r", b.time_ids_r, refiner_steps && st == added_stage_r_);
    }
    send(st, std::move(p));
  }
  fill_from_batch(s, b);
  // Its later steps come back to this stage from the last one.
  if (s.steps > 1) batches_[s.id] = std::move(b);
  if (last()) loops_[s.id] = std::move(loop);
  ++in_flight_;
  ++stats.admitted;
  run_blocks(std::move(s));
  busy_what_.what = "admit";  // the text encoder, then step 0's pass
}

void RingStage::run_blocks(RingState s) {
  if (stats.trace) busy_what_ = {"unet", s.id, s.step};
  progress_[s.id] = BatchProgress{s.id, s.step, s.steps, static_cast<int>(s.items.size())};
  const kernels::DeviceCounters before = be_.counters();
  const double t_pass = now_s();
  {
    Timed t(stats.unet_s);
    // The LoRAs patch the base's layers; a refiner step runs none of them.
    const LoraScope loras(model_, s.loras);
    if (s.refined) refiner_->unet->run(be_, s.unet, begin_r_, end_r_);
    else model_.unet->run(be_, s.unet, begin_, end_);
    // The sampler (on the host) needs the last stage's output; other stages
    // send theirs on, GPU to GPU over a link or through the host without one.
    if (last()) s.unet.h = be_.to_host(s.unet.h);
  }
  count_pass(be_.counters() - before);
  if (s.refined) stats.refiner_unet_s += now_s() - t_pass, ++stats.refiner_passes;
  if (!last() && s.step == s.steps - 1) first_done_ = true;
  // Its last pass through stage 0 frees the micro-batch's slot.
  if (first() && s.step == s.steps - 1) --in_flight_;
  if (!last()) {
    // Skips left on the stack go straight to the stages that pop them.
    const RingRoutes& rt = routes(s.refined);
    const auto& out = rt.outgoing(stage_);
    FARM_ASSERT(s.unet.skips.size() == out.size(), "stage ", stage_, " ends with ", s.unet.skips.size(),
                " skips on the stack; the routes expect ", out.size());
    std::map<int, StatePart> by_stage;
    for (size_t i = 0; i < out.size(); ++i) {
      const int to = rt.skips()[static_cast<size_t>(out[i])].to;
      StatePart& p = by_stage[to];
      p.kind = PartKind::skips, p.id = s.id, p.step = s.step, p.steps = s.steps, p.refined = s.refined;
      p.skip_ids.push_back(out[i]);
      p.tensors.emplace_back("skip", std::move(s.unet.skips[i]));
    }
    for (auto& [to, p] : by_stage) send(to, std::move(p));
    StatePart h = part(PartKind::hidden, s.id, s.step, s.steps);
    h.loras = s.loras;
    h.refined = s.refined;
    h.tensors.emplace_back("h", std::move(s.unet.h));
    h.tensors.emplace_back("timesteps", std::move(s.unet.timesteps));
    if (s.unet.temb.defined()) h.tensors.emplace_back("temb", std::move(s.unet.temb));
    h.latent_h = s.unet.latent_h, h.latent_w = s.unet.latent_w;
    send(stage_ + 1, std::move(h));
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
    it = loops_.emplace(s.id, std::make_unique<DenoiseLoop>(model_, std::move(reqs), refiner_)).first;
  }
  DenoiseLoop& loop = *it->second;
  loop.advance(s.step, s.unet.h);
  const int parts = static_cast<int>(model_.vae->blocks().size());
  decode_credit_ = (parts + s.steps - 1) / s.steps;
  if (s.step + 1 < s.steps) {
    RingState next;
    next.id = s.id;
    next.step = s.step + 1;
    next.steps = s.steps;
    next.loras = s.loras;
    next.refined = loop.refined(next.step);
    loop.model_input(next.step, next.unet.h, next.unet.timesteps);
    if (first()) {  // S = 1: the ring is this rank
      auto b = batches_.find(s.id);
      FARM_ASSERT(b != batches_.end(), "micro-batch ", s.id, ": its conditioning is gone");
      fill_from_batch(next, b->second);
      if (next.step == next.steps - 1) batches_.erase(b);
      inbox_.push_back(std::move(next));
      return;
    }
    StatePart h = part(PartKind::hidden, next.id, next.step, next.steps);
    h.loras = next.loras;
    h.refined = next.refined;
    h.tensors.emplace_back("h", std::move(next.unet.h));  // host: from the sampler, inline
    h.tensors.emplace_back("timesteps", std::move(next.unet.timesteps));
    send(0, std::move(h));
    return;
  }
  Decode d;
  d.s.id = s.id;
  d.s.steps = s.steps;
  d.s.items = std::move(s.items);
  Tensor latents = loop.latents();  // host, [items, h, w, C]
  d.errors = check_latents(latents, d.s.items, fault_items_);
  d.decoder = &loop.decoder();
  d.h = vae_input(*d.decoder, latents);
  loops_.erase(it);
  decodes_.push_back(std::move(d));
}

void RingStage::decode_part() {
  Decode& d = decodes_.front();
  if (stats.trace) busy_what_ = {"vae", d.s.id, d.next_part};
  std::vector<RgbImage> images;
  // A decode that fails costs its micro-batch's items, not the job: they are
  // reported failed with the reason, and the rank goes on with the next one.
  try {
    {
      Timed t(stats.vae_s);
      const size_t b = static_cast<size_t>(d.next_part++);
      d.decoder->vae->run(be_, d.h, b, b + 1);
    }
    if (d.next_part < static_cast<int>(d.decoder->vae->blocks().size())) return;
    images = rgb_images(be_.image_to_rgb8(d.h), d.h.shape);  // only the bytes leave the device
  } catch (const Error& e) {
    for (auto& err : d.errors)
      if (err.empty()) err = cat("VAE decode failed: ", e.what());
  }
  Timed t(stats.encode_s);
  nlohmann::json items = nlohmann::json::array();
  std::vector<comm::Bytes> files;
  for (size_t k = 0; k < d.s.items.size(); ++k) {
    if (d.errors[k].empty()) {
      try {
        files.push_back(encode_(d.s.items[k], images.at(k)));
      } catch (const std::exception& e) {
        d.errors[k] = cat("encoding the PNG failed: ", e.what());
      }
    }
    items.push_back({{"index", d.s.items[k].index}, {"error", d.errors[k]}});
  }
  comm::WireWriter w(nlohmann::json{{"id", d.s.id}, {"rank", t_.rank()}, {"items", items}});
  for (const auto& f : files) w.blob(f);
  t_.send(0, kDone, w.take());
  progress_.erase(d.s.id);
  decodes_.pop_front();
  ++stats.finished;
  first_done_ = true;
  if (stats.trace) stats.completions.push_back(now_s());
}

std::vector<BatchProgress> RingStage::progress() const {
  std::vector<BatchProgress> out;
  for (const auto& [id, p] : progress_) out.push_back(p);
  return out;
}

void RingStage::send(int stage, StatePart p) {
  Timed t(stats.wire_s);
  StateTransfer sent{stats.trace ? now_s() : 0, layout_.rank_of(pipeline_, stage), 0, p.id, p.step, kind_name(p.kind)};
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
