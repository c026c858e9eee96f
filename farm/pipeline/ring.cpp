#include "farm/pipeline/ring.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "farm/comm/clock_sync.h"
#include "farm/comm/wire.h"
#include "farm/core/error.h"
#include "farm/pipeline/conditioning.h"

namespace farm::pipeline {

RingStage::RingStage(const SdModel& m, RingLayout layout, comm::Transport& t, ImageEncoder encode,
                     kernels::TensorLink* link, const SdModel* refiner)
    : RingStageBase(*m.backend, std::move(layout), t, std::move(encode), link),
      model_(m),
      routes_(m.unet->blocks(), layout_) {
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

void RingStage::run_next_state() {
  RingState s = std::move(inbox_.front());
  inbox_.pop_front();
  run_blocks(std::move(s));
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
    StatePart p = state_part(PartKind::batch, s.id, 0, s.steps);
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
  const double t_pass = ring_now_s();
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
  if (s.refined) stats.refiner_unet_s += ring_now_s() - t_pass, ++stats.refiner_passes;
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
    StatePart h = state_part(PartKind::hidden, s.id, s.step, s.steps);
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
  owe_decode_parts(static_cast<int>(model_.vae->blocks().size()), s.steps);
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
    StatePart h = state_part(PartKind::hidden, next.id, next.step, next.steps);
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
  d.errors = check_latents(latents, d.s.items);
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
  report_done(d.s.id, d.s.items, std::move(d.errors), images);
  decodes_.pop_front();
}

}  // namespace farm::pipeline
