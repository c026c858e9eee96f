// Plan <-> JSON: what `farm plan --json` writes and `farm render` reads.

#include "farm/core/error.h"
#include "partition/partitioner.h"

namespace farm::partition {

nlohmann::json Plan::to_json() const {
  using nlohmann::json;
  json st = json::array();
  for (const auto& s : stage) {
    json to = json::array();
    for (const auto& f : s.send_to) to.push_back({{"stage", f.stage}, {"bytes", f.bytes}, {"bytes_once", f.bytes_once}});
    st.push_back({{"begin", s.begin},
                  {"end", s.end},
                  {"text_encoder", s.text_encoder},
                  {"vae", s.vae},
                  {"block_s", s.block_s},
                  {"text_s", s.text_s},
                  {"vae_s", s.vae_s},
                  {"compute_s", s.compute_s},
                  {"send_bytes", s.send_bytes},
                  {"send_bytes_once", s.send_bytes_once},
                  {"send_messages", s.send_messages},
                  {"send_messages_once", s.send_messages_once},
                  {"send_to", to},
                  {"recv_bytes", s.recv_bytes},
                  {"recv_bytes_once", s.recv_bytes_once},
                  {"send_s", s.send_s},
                  {"send_once_s", s.send_once_s},
                  {"time_s", s.time_s},
                  {"weight_bytes", s.weight_bytes},
                  {"activation_bytes", s.activation_bytes},
                  {"memory_bytes", s.memory_bytes},
                  {"busy", s.busy}});
  }
  return {{"model", model},
          {"device", device},
          {"pipelines", pipelines},
          {"stages", stages},
          {"window", window},
          {"blocks", blocks},
          {"overlap_transfers", overlap_transfers},
          {"vae_parts", vae_parts},
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

  bool has(const std::string& key) const { return j_.is_object() && j_.contains(key) && !j_[key].is_null(); }
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
  // Optional fields: the fallback when absent, checked like the others when present.
  int64_t integer(const std::string& key, int64_t lo, int64_t fallback) const {
    return has(key) ? integer(key, lo) : fallback;
  }
  double number(const std::string& key, double fallback) const { return has(key) ? number(key) : fallback; }
  bool boolean(const std::string& key, bool fallback) const { return has(key) ? boolean(key) : fallback; }
  std::string string(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
  }
  Reader child(const std::string& key) const { return Reader(source_, at(key), field(key)); }
  [[noreturn]] void bad(const std::string& key, const std::string& msg) const {
    const std::string f = field(key);
    if (f.empty()) fail(source_, ": ", msg);
    fail(source_, ": field '", f, "': ", msg);
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

// Required: pipelines, stages, blocks and each stage's begin and end (what a
// hand-written plan needs); the rest is optional, checked when present.
Plan Plan::from_json(const nlohmann::json& j, const std::string& source) {
  const Reader r(source, j, "");
  if (!j.is_object()) r.bad("", "expected a JSON object");
  Plan p;
  p.model = r.string("model", "");
  p.device = r.string("device", "");
  p.pipelines = static_cast<int>(r.integer("pipelines", 1));
  p.stages = static_cast<int>(r.integer("stages", 1));
  p.blocks = static_cast<size_t>(r.integer("blocks", 1));
  p.window = static_cast<int>(r.integer("window", 1, resolve_window(0, p.stages)));
  p.overlap_transfers = r.boolean("overlap_transfers", false);
  p.vae_parts = static_cast<int>(r.integer("vae_parts", 1, 1));
  if (r.has("workload")) {
    const Reader w = r.child("workload");
    const Workload d;
    p.workload.latent_h = w.integer("latent_h", 1, d.latent_h);
    p.workload.latent_w = w.integer("latent_w", 1, d.latent_w);
    p.workload.items = w.integer("items", 1, d.items);
    p.workload.guidance = w.boolean("guidance", d.guidance);
    p.workload.steps = static_cast<int>(w.integer("steps", 1, d.steps));
    p.workload.text_len = w.integer("text_len", 1, d.text_len);
  }
  p.step_s = r.number("step_s", 0);
  p.images_per_s = r.number("images_per_s", 0);
  p.bubble = r.number("bubble", 0);

  const auto& st = r.at("stage");
  if (!st.is_array()) r.bad("stage", "expected an array");
  if (st.size() != static_cast<size_t>(p.stages))
    r.bad("stage", cat("expected ", p.stages, " entries (field 'stages'), got ", st.size()));
  if (static_cast<size_t>(p.stages) > p.blocks)
    r.bad("stages", cat(p.stages, " stages for ", p.blocks, " blocks: every stage needs at least one block"));
  size_t next = 0;
  for (size_t i = 0; i < st.size(); ++i) {
    const Reader e(source, st[i], cat("stage[", i, "]"));
    StagePlan s;
    s.begin = static_cast<size_t>(e.integer("begin", 0));
    s.end = static_cast<size_t>(e.integer("end", 0));
    if (s.begin != next)
      e.bad("begin", cat("expected ", next, " (stages must be contiguous, starting at block 0), got ", s.begin));
    if (s.end <= s.begin) e.bad("end", cat("expected more than begin (", s.begin, "), got ", s.end));
    if (s.end > p.blocks) e.bad("end", cat("expected at most ", p.blocks, " (field 'blocks'), got ", s.end));
    next = s.end;
    s.text_encoder = e.boolean("text_encoder", i == 0);
    s.vae = e.boolean("vae", i + 1 == st.size());
    if (s.text_encoder != (i == 0)) e.bad("text_encoder", "the text encoder runs on stage 0 and only there");
    if (s.vae != (i + 1 == st.size())) e.bad("vae", "the VAE decoder runs on the last stage and only there");
    s.block_s = e.number("block_s", 0);
    s.text_s = e.number("text_s", 0);
    s.vae_s = e.number("vae_s", 0);
    s.compute_s = e.number("compute_s", 0);
    // Plans written before the direct ring (no send_bytes_once, send_to, ...)
    // read with no once-per-micro-batch traffic and one message per step.
    s.send_bytes = e.number("send_bytes", 0);
    s.send_bytes_once = e.number("send_bytes_once", 0);
    s.send_messages = static_cast<int>(e.integer("send_messages", 0, p.stages > 1 ? 1 : 0));
    s.send_messages_once = static_cast<int>(e.integer("send_messages_once", 0, 0));
    if (e.has("send_to")) {
      const auto& arr = e.at("send_to");
      if (!arr.is_array()) e.bad("send_to", "expected an array");
      for (size_t k = 0; k < arr.size(); ++k) {
        const Reader f(source, arr[k], cat("stage[", i, "].send_to[", k, "]"));
        const SendFlow flow{.stage = static_cast<int>(f.integer("stage", 0)), .bytes = f.number("bytes", 0),
                            .bytes_once = f.number("bytes_once", 0)};
        if (flow.stage >= p.stages) f.bad("stage", cat("expected a stage below ", p.stages, ", got ", flow.stage));
        s.send_to.push_back(flow);
      }
    }
    s.recv_bytes = e.number("recv_bytes", 0);
    s.recv_bytes_once = e.number("recv_bytes_once", 0);
    s.send_s = e.number("send_s", 0);
    s.send_once_s = e.number("send_once_s", 0);
    s.time_s = e.number("time_s", 0);
    s.weight_bytes = e.number("weight_bytes", 0);
    s.activation_bytes = e.number("activation_bytes", 0);
    s.memory_bytes = e.number("memory_bytes", 0);
    s.busy = e.number("busy", 0);
    p.stage.push_back(s);
  }
  if (next != p.blocks)
    r.bad("stage", cat("the stages cover blocks [0, ", next, ") but the model has ", p.blocks, " (field 'blocks')"));
  return p;
}

}  // namespace farm::partition
