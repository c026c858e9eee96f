#include "farm/pipeline/ring_messages.h"

#include "farm/comm/wire.h"
#include "farm/core/error.h"

namespace farm::pipeline {

void RingLayout::check(size_t blocks, const std::string& source) const {
  if (pipelines < 1 || stages < 1) fail(source, ": pipelines and stages must be at least 1");
  if (ranges.size() != static_cast<size_t>(stages))
    fail(source, ": ", ranges.size(), " block ranges for ", stages, " stages");
  size_t next = 0;
  for (size_t s = 0; s < ranges.size(); ++s) {
    const auto [b, e] = ranges[s];
    if (b != next || e <= b)
      fail(source, ": stage ", s, " has blocks [", b, ", ", e, "); expected a non-empty range starting at ", next);
    next = e;
  }
  if (next != blocks) fail(source, ": the stages cover blocks [0, ", next, ") of the UNet's ", blocks);
}

nlohmann::json to_json(const RingItem& it) {
  const auto& r = it.request;
  return {{"prompt", r.prompt},     {"negative_prompt", r.negative_prompt},
          {"seed", r.seed},         {"steps", r.steps},
          {"guidance", r.guidance}, {"width", r.width},
          {"height", r.height},     {"sampler", r.sampler},
          {"clip_skip", r.clip_skip}, {"meta", it.meta}};
}

RingItem ring_item_from_json(const nlohmann::json& j) {
  RingItem it;
  auto& r = it.request;
  r.prompt = j.at("prompt").get<std::string>();
  r.negative_prompt = j.at("negative_prompt").get<std::string>();
  r.seed = j.at("seed").get<uint64_t>();
  r.steps = j.at("steps").get<int>();
  r.guidance = j.at("guidance").get<float>();
  r.width = j.at("width").get<int>();
  r.height = j.at("height").get<int>();
  r.sampler = j.at("sampler").get<std::string>();
  r.clip_skip = j.at("clip_skip").get<int>();
  it.meta = j.at("meta").get<std::string>();
  return it;
}

comm::Bytes encode_state(const RingState& s) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : s.items) items.push_back(to_json(it));
  const bool temb = !s.unet.temb.shape.empty();
  comm::WireWriter w(nlohmann::json{{"id", s.id}, {"step", s.step}, {"steps", s.steps}, {"items", items},
                                    {"temb", temb}, {"skips", s.unet.skips.size()}});
  w.tensor(s.unet.h);
  w.tensor(s.unet.timesteps);
  w.tensor(s.unet.context);
  if (temb) w.tensor(s.unet.temb);
  for (const auto& k : s.unet.skips) w.tensor(k);
  return w.take();
}

RingState decode_state(const comm::Bytes& b, int source) {
  comm::WireReader r(b, cat("state message from rank ", source));
  const auto& h = r.header();
  RingState s;
  s.id = h.at("id").get<int64_t>();
  s.step = h.at("step").get<int>();
  s.steps = h.at("steps").get<int>();
  for (const auto& j : h.at("items")) s.items.push_back(ring_item_from_json(j));
  s.unet.h = r.tensor();
  s.unet.timesteps = r.tensor();
  s.unet.context = r.tensor();
  if (h.at("temb").get<bool>()) s.unet.temb = r.tensor();
  const size_t skips = h.at("skips").get<size_t>();
  for (size_t i = 0; i < skips; ++i) s.unet.skips.push_back(r.tensor());
  FARM_ASSERT(r.at_end(), "state message from rank ", source, " has trailing bytes");
  return s;
}

}  // namespace farm::pipeline
