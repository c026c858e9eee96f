// Plan <-> JSON: what `farm plan --json` writes and `farm render` reads.

#include "farm/core/error.h"
#include "partition/partitioner.h"

namespace farm::partition {

nlohmann::json Plan::to_json() const {
  using nlohmann::json;
  json st = json::array();
  for (const auto& s : stage)
    st.push_back({{"begin", s.begin},
                  {"end", s.end},
                  {"text_encoder", s.text_encoder},
                  {"vae", s.vae},
                  {"block_s", s.block_s},
                  {"text_s", s.text_s},
                  {"vae_s", s.vae_s},
                  {"compute_s", s.compute_s},
                  {"send_bytes", s.send_bytes},
                  {"send_s", s.send_s},
                  {"time_s", s.time_s},
                  {"weight_bytes", s.weight_bytes},
                  {"activation_bytes", s.activation_bytes},
                  {"memory_bytes", s.memory_bytes},
                  {"busy", s.busy}});
  return {{"model", model},
          {"device", device},
          {"pipelines", pipelines},
          {"stages", stages},
          {"window", window},
          {"blocks", blocks},
          {"overlap_transfers", overlap_transfers},
          {"workload",
           {{"latent_h", workload.latent_h},
            {"latent_w", workload.latent_w},
            {"items", workload.items},
            {"guidance", workload.guidance},
            {"steps", workload.steps},
            {"text_len", workload.text_len}}},
          {"stage", st},
          {"step_s", step_s},
          {"images_per_s", images_per_s},
          {"bubble", bubble}};
}

namespace {

// Typed field reads whose errors name the source and the field path.
class Reader {
 public:
  Reader(const std::string& source, const nlohmann::json& j, std::string path)
      : source_(source), j_(j), path_(std::move(path)) {}

  const nlohmann::json& at(const std::string& key) const {
    if (!j_.is_object()) bad("", "expected an object");
    if (!j_.contains(key)) bad(key, "missing");
    return j_[key];
  }
  int64_t integer(const std::string& key, int64_t lo) const {
    const auto& v = at(key);
    if (!v.is_number_integer()) bad(key, "expected an integer");
    const auto x = v.get<int64_t>();
    if (x < lo) bad(key, cat("expected at least ", lo, ", got ", x));
    return x;
  }
  double number(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_number()) bad(key, "expected a number");
    return v.get<double>();
  }
  bool boolean(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_boolean()) bad(key, "expected true or false");
    return v.get<bool>();
  }
  std::string string(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_string()) bad(key, "expected a string");
    return v.get<std::string>();
  }
  Reader child(const std::string& key) const { return Reader(source_, at(key), field(key)); }
  [[noreturn]] void bad(const std::string& key, const std::string& msg) const {
    fail(source_, ": field '", field(key), "': ", msg);
  }

 private:
  std::string field(const std::string& key) const {
    return path_.empty() ? key : key.empty() ? path_ : key[0] == '[' ? path_ + key : path_ + "." + key;
  }
  const std::string& source_;
  const nlohmann::json& j_;
  std::string path_;
};

}  // namespace

Plan Plan::from_json(const nlohmann::json& j, const std::string& source) {
  const Reader r(source, j, "");
  Plan p;
  if (j.is_object() && j.contains("model")) p.model = r.string("model");
  p.device = r.string("device");
  p.pipelines = static_cast<int>(r.integer("pipelines", 1));
  p.stages = static_cast<int>(r.integer("stages", 1));
  p.window = static_cast<int>(r.integer("window", 1));
  p.blocks = static_cast<size_t>(r.integer("blocks", 1));
  p.overlap_transfers = r.boolean("overlap_transfers");
  const Reader w = r.child("workload");
  p.workload.latent_h = w.integer("latent_h", 1);
  p.workload.latent_w = w.integer("latent_w", 1);
  p.workload.items = w.integer("items", 1);
  p.workload.guidance = w.boolean("guidance");
  p.workload.steps = static_cast<int>(w.integer("steps", 1));
  p.workload.text_len = w.integer("text_len", 1);
  p.step_s = r.number("step_s");
  p.images_per_s = r.number("images_per_s");
  p.bubble = r.number("bubble");

  const auto& st = r.at("stage");
  if (!st.is_array()) r.bad("stage", "expected an array");
  if (st.size() != static_cast<size_t>(p.stages))
    r.bad("stage", cat("expected ", p.stages, " entries (field 'stages'), got ", st.size()));
  if (static_cast<size_t>(p.stages) > p.blocks)
    r.bad("stages", cat(p.stages, " stages for ", p.blocks, " blocks: every stage needs at least one block"));
  size_t next = 0;
  for (size_t i = 0; i < st.size(); ++i) {
    const std::string path = cat("stage[", i, "]");
    const Reader e(source, st[i], path);
    StagePlan s;
    s.begin = static_cast<size_t>(e.integer("begin", 0));
    s.end = static_cast<size_t>(e.integer("end", 0));
    if (s.begin != next)
      e.bad("begin", cat("expected ", next, " (stages must be contiguous, starting at block 0), got ", s.begin));
    if (s.end <= s.begin) e.bad("end", cat("expected more than begin (", s.begin, "), got ", s.end));
    if (s.end > p.blocks) e.bad("end", cat("expected at most ", p.blocks, " (field 'blocks'), got ", s.end));
    next = s.end;
    s.text_encoder = e.boolean("text_encoder");
    s.vae = e.boolean("vae");
    if (s.text_encoder != (i == 0)) e.bad("text_encoder", "the text encoder runs on stage 0 and only there");
    if (s.vae != (i + 1 == st.size())) e.bad("vae", "the VAE decoder runs on the last stage and only there");
    s.block_s = e.number("block_s");
    s.text_s = e.number("text_s");
    s.vae_s = e.number("vae_s");
    s.compute_s = e.number("compute_s");
    s.send_bytes = e.number("send_bytes");
    s.send_s = e.number("send_s");
    s.time_s = e.number("time_s");
    s.weight_bytes = e.number("weight_bytes");
    s.activation_bytes = e.number("activation_bytes");
    s.memory_bytes = e.number("memory_bytes");
    s.busy = e.number("busy");
    p.stage.push_back(s);
  }
  if (next != p.blocks)
    r.bad("stage", cat("the stages cover blocks [0, ", next, ") but the model has ", p.blocks, " (field 'blocks')"));
  return p;
}

}  // namespace farm::partition
