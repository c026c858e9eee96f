#include "farm/pipeline/ring_messages.h"

#include "farm/comm/wire.h"
#include "farm/core/error.h"

namespace farm::pipeline {

namespace {

void check_ranges(const std::vector<std::pair<size_t, size_t>>& ranges, int stages, size_t blocks, bool may_be_empty,
                  const std::string& source, const char* unet) {
  if (ranges.size() != static_cast<size_t>(stages))
    fail(source, ": ", ranges.size(), " ", unet, " block ranges for ", stages, " stages");
  size_t next = 0;
  for (size_t s = 0; s < ranges.size(); ++s) {
    const auto [b, e] = ranges[s];
    if (b != next || e < b || (e == b && !may_be_empty))
      fail(source, ": stage ", s, " has ", unet, " blocks [", b, ", ", e, "); expected a ",
           may_be_empty ? "" : "non-empty ", "range starting at ", next);
    next = e;
  }
  if (next != blocks) fail(source, ": the stages cover blocks [0, ", next, ") of the ", unet, "'s ", blocks);
}

}  // namespace

void RingLayout::check(size_t blocks, const std::string& source, size_t refiner_blocks) const {
  if (pipelines < 1 || stages < 1) fail(source, ": pipelines and stages must be at least 1");
  check_ranges(ranges, stages, blocks, has_refiner(), source, "UNet");
  if (has_refiner()) check_ranges(refiner_ranges, stages, refiner_blocks, true, source, "refiner UNet");
}

RingLayout RingLayout::refiner_layout() const {
  RingLayout l = *this;
  l.ranges = refiner_ranges;
  l.refiner_ranges.clear();
  return l;
}

nlohmann::json to_json(const RingItem& it) {
  const auto& r = it.request;
  return {{"prompt", r.prompt},     {"negative_prompt", r.negative_prompt},
          {"seed", r.seed},         {"steps", r.steps},
          {"guidance", r.guidance}, {"width", r.width},
          {"height", r.height},     {"sampler", r.sampler},
          {"clip_skip", r.clip_skip}, {"index", it.index}, {"meta", it.meta},
          {"prompt_syntax", text::syntax_name(r.reading.syntax)}, {"fix_text", r.reading.fix_text},
          {"loras", loras_to_json(r.loras)}, {"refiner", r.refiner}, {"refiner_switch", r.refiner_switch},
          {"aesthetic_score", r.aesthetic_score}, {"negative_aesthetic_score", r.negative_aesthetic_score},
          {"original_size", r.original_size}, {"crops_coords_top_left", r.crops_coords_top_left},
          {"target_size", r.target_size}};
}

nlohmann::json loras_to_json(const model::LoraSet& set) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : set) out.push_back({l.name, l.weight});
  return out;
}

model::LoraSet loras_from_json(const nlohmann::json& j) {
  model::LoraSet set;
  for (const auto& l : j) set.push_back({l.at(0).get<std::string>(), l.at(1).get<double>()});
  return set;
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
  if (!text::parse_syntax(j.at("prompt_syntax").get<std::string>(), r.reading.syntax))
    fail("ring item: prompt_syntax ", j.at("prompt_syntax").dump());
  r.reading.fix_text = j.at("fix_text").get<bool>();
  r.loras = loras_from_json(j.at("loras"));
  r.refiner = j.at("refiner").get<std::string>();
  r.refiner_switch = j.at("refiner_switch").get<double>();
  r.aesthetic_score = j.at("aesthetic_score").get<float>();
  r.negative_aesthetic_score = j.at("negative_aesthetic_score").get<float>();
  r.original_size = j.at("original_size").get<std::array<int, 2>>();
  r.crops_coords_top_left = j.at("crops_coords_top_left").get<std::array<int, 2>>();
  r.target_size = j.at("target_size").get<std::array<int, 2>>();
  it.index = j.at("index").get<int64_t>();
  it.meta = j.at("meta");
  return it;
}

const Tensor* StatePart::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const char* kind_name(PartKind k) {
  return k == PartKind::hidden ? "hidden" : k == PartKind::skips ? "skips" : "batch";
}

namespace {

PartKind kind_of(const std::string& s, const std::string& what) {
  if (s == "hidden") return PartKind::hidden;
  if (s == "skips") return PartKind::skips;
  if (s == "batch") return PartKind::batch;
  fail(what, ": unknown state part '", s, "'");
}

DType dtype_of(const std::string& s, const std::string& what) {
  for (DType d : {DType::f32, DType::f16, DType::bf16})
    if (s == dtype_name(d)) return d;
  fail(what, ": tensor dtype '", s, "' is not f32, f16 or bf16");
}

}  // namespace

int64_t send_part(comm::Transport& t, kernels::TensorLink* link, kernels::Backend& be, int dest, StatePart p) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : p.items) items.push_back(to_json(it));
  nlohmann::json specs = nlohmann::json::array();
  std::vector<Tensor> linked, inline_tensors;
  int64_t bytes = 0;
  for (auto& [name, tensor] : p.tensors) {
    const bool over_link = link && !tensor.on_host();
    specs.push_back({{"name", name}, {"shape", tensor.shape}, {"dtype", dtype_name(tensor.dtype)}, {"link", over_link}});
    if (over_link) {
      bytes += static_cast<int64_t>(tensor.bytes());
      linked.push_back(std::move(tensor));
    } else {
      Tensor h = be.to_host(tensor);  // 16-bit device values survive fp32 exactly
      bytes += static_cast<int64_t>(h.data.size() * sizeof(float));
      inline_tensors.push_back(std::move(h));
    }
  }
  comm::WireWriter w(nlohmann::json{{"part", kind_name(p.kind)}, {"id", p.id},     {"step", p.step},
                                    {"steps", p.steps},          {"items", items}, {"skips", p.skip_ids},
                                    {"tensors", specs},          {"loras", loras_to_json(p.loras)},
                                    {"latent_hw", {p.latent_h, p.latent_w}}, {"refined", p.refined}});
  for (const Tensor& h : inline_tensors) w.tensor(h);
  // The device tensors first: the receiver posts its receive when the header
  // arrives, and the emulated NCCL's receive waits for bytes already sent.
  if (!linked.empty()) link->send(dest, std::move(linked));
  t.send(dest, kState, w.take());
  return bytes;
}

StatePart receive_part(const comm::Message& m, kernels::TensorLink* link) {
  const std::string what = cat("state message from rank ", m.source);
  comm::WireReader r(m.bytes, what);
  const auto& h = r.header();
  StatePart p;
  try {
    p.kind = kind_of(h.at("part").get<std::string>(), what);
    p.id = h.at("id").get<int64_t>();
    p.step = h.at("step").get<int>();
    p.steps = h.at("steps").get<int>();
    for (const auto& j : h.at("items")) p.items.push_back(ring_item_from_json(j));
    p.skip_ids = h.at("skips").get<std::vector<int>>();
    p.loras = loras_from_json(h.at("loras"));
    p.latent_h = h.at("latent_hw").at(0).get<int64_t>();
    p.latent_w = h.at("latent_hw").at(1).get<int64_t>();
    p.refined = h.at("refined").get<bool>();
    std::vector<kernels::TensorSpec> specs;
    std::vector<size_t> linked;
    for (const auto& s : h.at("tensors")) {
      const auto name = s.at("name").get<std::string>();
      if (s.at("link").get<bool>()) {
        if (!link) fail(what, ": tensor '", name, "' comes over a device link this rank does not have");
        specs.push_back({s.at("shape").get<Shape>(), dtype_of(s.at("dtype").get<std::string>(), what)});
        linked.push_back(p.tensors.size());
        p.tensors.emplace_back(name, Tensor());
      } else {
        p.tensors.emplace_back(name, r.tensor());
      }
    }
    if (!specs.empty()) {
      auto got = link->recv(m.source, specs);
      for (size_t i = 0; i < linked.size(); ++i) p.tensors[linked[i]].second = std::move(got[i]);
    }
  } catch (const nlohmann::json::exception& e) {
    fail(what, ": ", e.what());
  }
  if (!r.at_end()) fail(what, ": trailing bytes");
  return p;
}

}  // namespace farm::pipeline
