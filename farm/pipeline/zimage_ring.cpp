#include "farm/pipeline/zimage_ring.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm::pipeline {

ZImageRequest zimage_request(const Txt2ImgRequest& r) {
  ZImageRequest z;
  z.prompt = r.prompt;
  z.negative_prompt = r.negative_prompt;  // "" is diffusers' default negative too
  z.seed = r.seed;
  z.steps = r.steps;
  z.guidance = r.guidance;
  z.width = r.width, z.height = r.height;
  return z;
}

std::vector<kernels::LinkEdge> dit_link_edges(const RingLayout& layout) {
  std::vector<kernels::LinkEdge> edges;
  for (int p = 0; p < layout.pipelines; ++p)
    for (int s = 0; s + 1 < layout.stages; ++s) edges.push_back({layout.rank_of(p, s), layout.rank_of(p, s + 1)});
  std::sort(edges.begin(), edges.end());
  return edges;
}

namespace {

std::unique_ptr<ZImageLoop> make_loop(const ZImageModel& m, const std::vector<RingItem>& items) {
  std::vector<ZImageRequest> reqs;
  for (const auto& it : items) reqs.push_back(zimage_request(it.request));
  return std::make_unique<ZImageLoop>(m, std::move(reqs));
}

}  // namespace

DitRingStage::DitRingStage(const ZImageModel& m, kernels::Backend& be, RingLayout layout, comm::Transport& t,
                           ImageEncoder encode, kernels::TensorLink* link)
    : RingStageBase(be, std::move(layout), t, std::move(encode), link), model_(m) {}

void DitRingStage::take_part(StatePart p) {
  const int64_t id = p.id;
  if (p.kind == PartKind::batch) {
    batches_[id].items = std::move(p.items);
  } else {
    FARM_ASSERT(p.kind == PartKind::hidden, "a DiT stage got a ", kind_name(p.kind), " part");
    waiting_[id].push_back(std::move(p));
  }
  try_ready(id);
}

// A hidden part becomes a state once its stage can run it: the last stage
// needs the micro-batch's items (their batch message may come after a state).
void DitRingStage::try_ready(int64_t id) {
  auto w = waiting_.find(id);
  if (w == waiting_.end()) return;
  auto b = batches_.find(id);
  if (last() && (b == batches_.end() || b->second.items.empty())) return;
  for (StatePart& p : w->second) {
    if (first()) {  // the next step's latents from the last stage
      const Tensor* lat = p.find("latents");
      if (!lat || b == batches_.end()) fail("micro-batch ", id, ": a return state without latents or batch");
      State s = step_state(id, p.step, b->second);
      const int64_t per = lat->size() / std::max<int64_t>(1, b->second.loop->items());
      for (int64_t r = 0; r < static_cast<int64_t>(s.rows.size()); ++r) {
        const int64_t item = b->second.loop->row_item(r);
        Tensor& x = s.rows[static_cast<size_t>(r)].latents;
        std::copy(lat->ptr() + item * per, lat->ptr() + (item + 1) * per, x.ptr());
      }
      inbox_.push_back(std::move(s));
      continue;
    }
    State s{p.id, p.step, p.steps, {}};
    const Tensor* dims = p.find("dims");
    if (!dims || dims->shape.size() != 2 || dims->dim(1) != 2)
      fail("DiT state of micro-batch ", id, ": no token grid ('dims' [rows, 2])");
    for (auto& [name, t] : p.tensors) {
      if (name == "dims") continue;
      if (name == "adaln") {
        s.rows.emplace_back();
        s.rows.back().adaln = std::move(t);
        continue;
      }
      if (s.rows.empty()) fail("DiT state of micro-batch ", id, ": '", name, "' before its row's 'adaln'");
      model::DitState& r = s.rows.back();
      if (name == "x") r.x = std::move(t);
      else if (name == "cap") r.cap = std::move(t);
      else if (name == "unified") r.unified = std::move(t);
      else fail("DiT state of micro-batch ", id, " has an unexpected tensor '", name, "'");
    }
    if (dims->dim(0) != static_cast<int64_t>(s.rows.size()))
      fail("DiT state of micro-batch ", id, ": ", dims->dim(0), " token grids for ", s.rows.size(), " rows");
    for (size_t r = 0; r < s.rows.size(); ++r) {
      auto& row = s.rows[r];
      row.h_tokens = static_cast<int64_t>(dims->data[2 * r]);
      row.w_tokens = static_cast<int64_t>(dims->data[2 * r + 1]);
      row.image_rows = row.h_tokens * row.w_tokens;
      if (!row.unified.defined() && !(row.x.defined() && row.cap.defined()))
        fail("DiT state of micro-batch ", id, ": row ", r, " has neither the unified sequence nor both streams");
    }
    inbox_.push_back(std::move(s));
  }
  waiting_.erase(w);
}

void DitRingStage::run_next_state() {
  State s = std::move(inbox_.front());
  inbox_.pop_front();
  run_blocks(std::move(s));
}

DitRingStage::State DitRingStage::step_state(int64_t id, int step, const Batch& b) const {
  const ZImageLoop& loop = *b.loop;
  State s{id, step, loop.steps(), {}};
  for (int64_t r = 0; r < loop.rows(); ++r) {
    model::DitState row;
    row.latents = loop.item_latents(loop.row_item(r));
    row.caption = b.captions.at(static_cast<size_t>(r));
    row.t = loop.t(step);
    s.rows.push_back(std::move(row));
  }
  return s;
}

ZImageLoop& DitRingStage::loop_of(int64_t id, Batch& b) {
  if (!b.loop) b.loop = make_loop(model_, b.items);  // same seeds, same noise as stage 0's
  FARM_ASSERT(b.loop, "micro-batch ", id, ": no loop");
  return *b.loop;
}

void DitRingStage::admit(Admission a) {
  Batch& b = batches_[a.id];
  b.items = a.items;
  b.loop = make_loop(model_, b.items);
  {
    Timed t(stats.text_s);
    // Each distinct prompt once: a micro-batch's empty negatives share one row.
    std::map<std::string, Tensor> encoded;
    for (int64_t r = 0; r < b.loop->rows(); ++r) {
      const std::string& p = b.loop->row_prompt(r);
      auto it = encoded.find(p);
      if (it == encoded.end()) {
        Tensor cap = be_.to_backend(model_.text_encoder->forward(be_, model_.prompt_ids(p)));
        const int64_t L = cap.dim(-2);
        it = encoded.emplace(p, std::move(cap).reshaped({1, L, model_.transformer->config().cap_feat_dim})).first;
      }
      b.captions.push_back(it->second);
    }
  }
  if (!last()) {  // the last stage samples and names the PNGs: it needs the items, once
    StatePart p = state_part(PartKind::batch, a.id, 0, b.loop->steps());
    p.items = b.items;
    send(layout_.stages - 1, std::move(p));
  }
  ++in_flight_;
  ++stats.admitted;
  run_blocks(step_state(a.id, 0, b));
  busy_what_.what = "admit";  // the text encoder, then step 0's pass
}

void DitRingStage::run_blocks(State s) {
  if (stats.trace) busy_what_ = {"unet", s.id, s.step};
  const auto b = batches_.find(s.id);
  const int items = b != batches_.end() ? static_cast<int>(b->second.items.size()) : 0;
  progress_[s.id] = BatchProgress{s.id, s.step, s.steps, items};
  const kernels::DeviceCounters before = be_.counters();
  {
    Timed t(stats.unet_s);
    for (auto& row : s.rows) model_.transformer->run(be_, row, begin_, end_);
  }
  count_pass(be_.counters() - before);
  if (!last() && s.step == s.steps - 1) first_done_ = true;
  if (first() && s.step == s.steps - 1) {  // its last pass here frees its slot and its captions
    --in_flight_;
    if (!last()) batches_.erase(s.id);
  }
  if (last()) return finish_step(std::move(s));
  StatePart h = state_part(PartKind::hidden, s.id, s.step, s.steps);
  Tensor dims({static_cast<int64_t>(s.rows.size()), 2});
  for (size_t r = 0; r < s.rows.size(); ++r) {
    dims.data[2 * r] = static_cast<float>(s.rows[r].h_tokens);
    dims.data[2 * r + 1] = static_cast<float>(s.rows[r].w_tokens);
  }
  h.tensors.emplace_back("dims", std::move(dims));
  for (auto& row : s.rows) {
    h.tensors.emplace_back("adaln", std::move(row.adaln));
    if (row.unified.defined()) {
      h.tensors.emplace_back("unified", std::move(row.unified));
    } else {
      h.tensors.emplace_back("x", std::move(row.x));
      h.tensors.emplace_back("cap", std::move(row.cap));
    }
  }
  send(stage_ + 1, std::move(h));
}

void DitRingStage::finish_step(State s) {
  auto bit = batches_.find(s.id);
  FARM_ASSERT(bit != batches_.end(), "micro-batch ", s.id, " reached the last stage without its items");
  Batch& b = bit->second;
  ZImageLoop& loop = loop_of(s.id, b);
  std::vector<Tensor> out;
  for (auto& row : s.rows) out.push_back(std::move(row.out));
  loop.advance(s.step, out);
  owe_decode_parts(static_cast<int>(model_.vae->blocks().size()), s.steps);
  if (s.step + 1 < s.steps) {
    if (first()) {  // S = 1: the ring is this rank
      inbox_.push_back(step_state(s.id, s.step + 1, b));
      return;
    }
    StatePart h = state_part(PartKind::hidden, s.id, s.step + 1, s.steps);
    h.tensors.emplace_back("latents", loop.latents());  // host, from the sampler, inline
    send(0, std::move(h));
    return;
  }
  Decode d;
  d.id = s.id;
  d.items = std::move(b.items);
  Tensor latents = loop.latents();  // host [items, h, w, C]
  d.errors = check_latents(latents, d.items);
  d.h = model_.vae->config().decoder_input(latents);
  batches_.erase(bit);
  decodes_.push_back(std::move(d));
}

void DitRingStage::decode_part() {
  Decode& d = decodes_.front();
  if (stats.trace) busy_what_ = {"vae", d.id, d.next_part};
  std::vector<RgbImage> images;
  // A decode that fails costs its micro-batch's items, not the job.
  try {
    {
      Timed t(stats.vae_s);
      const size_t b = static_cast<size_t>(d.next_part++);
      model_.vae->run(be_, d.h, b, b + 1);
    }
    if (d.next_part < static_cast<int>(model_.vae->blocks().size())) return;
    images = rgb_images(be_.image_to_rgb8(d.h), d.h.shape);  // only the bytes leave the device
  } catch (const Error& e) {
    for (auto& err : d.errors)
      if (err.empty()) err = cat("VAE decode failed: ", e.what());
  }
  report_done(d.id, d.items, std::move(d.errors), images);
  decodes_.pop_front();
}

}  // namespace farm::pipeline
