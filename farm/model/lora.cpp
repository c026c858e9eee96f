#include "farm/model/lora.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"

namespace farm::model {
namespace {

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

enum class Role { down, up, alpha };
struct ParsedKey {
  std::string module;  // a name LoraTargets knows
  Role role;
};

// The older diffusers attention-processor spelling:
// "<attn>.processor.to_q_lora.down.weight" (UNet, with or without "unet."),
// "<...>.self_attn.to_q_lora.down.weight" (text encoder, as diffusers converts kohya).
std::optional<ParsedKey> parse_processor_key(const std::string& key) {
  static const std::pair<const char*, const char*> projections[] = {
      {"to_q", "q_proj"}, {"to_k", "k_proj"}, {"to_v", "v_proj"}, {"to_out", "out_proj"}};
  for (const char* role : {"down", "up"}) {
    for (const auto& [proj, clip_proj] : projections) {
      const std::string suffix = cat(".", proj, "_lora.", role, ".weight");
      if (!ends_with(key, suffix)) continue;
      std::string owner = key.substr(0, key.size() - suffix.size());
      std::string module;
      if (ends_with(owner, ".processor")) {
        owner.resize(owner.size() - std::string(".processor").size());
        module = (starts_with(owner, "unet.") ? owner : "unet." + owner) + "." + proj;
        if (std::string(proj) == "to_out") module += ".0";
      } else if (ends_with(owner, ".self_attn")) {
        module = owner + "." + clip_proj;
      } else {
        return std::nullopt;
      }
      return ParsedKey{module, std::string(role) == "down" ? Role::down : Role::up};
    }
  }
  return std::nullopt;
}

std::optional<ParsedKey> parse_key(const std::string& key) {
  static const std::pair<const char*, Role> suffixes[] = {
      {".lora_down.weight", Role::down},  {".lora_up.weight", Role::up},  // kohya
      {".lora_A.weight", Role::down},     {".lora_B.weight", Role::up},   // PEFT
      {".lora.down.weight", Role::down},  {".lora.up.weight", Role::up},  // diffusers < 0.24
      {".lora_linear_layer.down.weight", Role::down},
      {".lora_linear_layer.up.weight", Role::up},
      {".alpha", Role::alpha},
  };
  if (auto p = parse_processor_key(key)) return p;
  for (const auto& [suffix, role] : suffixes)
    if (ends_with(key, suffix)) return ParsedKey{key.substr(0, key.size() - std::string(suffix).size()), role};
  return std::nullopt;
}

// alpha for a module from diffusers' `lora_adapter_metadata` (the PEFT
// LoraConfig of each part, keys prefixed "unet." / "text_encoder."): an
// alpha_pattern entry whose key ends the module's name, else lora_alpha.
std::optional<double> metadata_alpha(const nlohmann::json& meta, const LoraTarget& t) {
  if (meta.is_null()) return std::nullopt;
  const auto pattern = meta.find(t.part + ".alpha_pattern");
  if (pattern != meta.end() && pattern->is_object())
    for (auto it = pattern->begin(); it != pattern->end(); ++it)
      if ((t.prefix == it.key() || ends_with(t.prefix, "." + it.key())) && it->is_number())
        return it->get<double>();
  const auto alpha = meta.find(t.part + ".lora_alpha");
  if (alpha != meta.end() && alpha->is_number()) return alpha->get<double>();
  return std::nullopt;
}

// [a, b] or [a, b, 1, 1] == [a, b] (a 1×1 conv weight is a linear one).
Shape flat_1x1(const Shape& s) {
  if (s.size() == 4 && s[2] == 1 && s[3] == 1) return {s[0], s[1]};
  return s;
}

void check_shapes(const std::string& path, const LoraModule& m, const Shape& down, const Shape& up) {
  const Shape& base = m.target.shape;
  const int64_t out = base[0], in = base[1], k = base.size() == 4 ? base[2] : 1;
  const int64_t r = down.empty() ? 0 : down[0];
  const Shape want_down = k == 1 ? Shape{r, in} : Shape{r, in, k, k};
  if (down.empty() || (k == 1 ? flat_1x1(down) : down) != want_down)
    fail(path, ": LoRA weight '", m.down_key, "' has shape ", shape_str(down), " (expected ", shape_str(want_down),
         ": rank x the input of layer '", m.target.part, "/", m.target.prefix, "' ", shape_str(base), ")");
  if (flat_1x1(up) != Shape{out, r})
    fail(path, ": LoRA weight '", m.up_key, "' has shape ", shape_str(up), " (expected ", shape_str(Shape{out, r}),
         ": the output of layer '", m.target.part, "/", m.target.prefix, "' ", shape_str(base), " x rank ", r, ")");
}

}  // namespace

const char* lora_format_name(LoraFormat f) { return f == LoraFormat::kohya ? "kohya" : "diffusers"; }

void LoraTargets::add_part(const std::string& part, const std::vector<std::pair<std::string, Shape>>& weights,
                           const std::function<std::string(const std::string&)>& ldm_names) {
  FARM_ASSERT(part == "unet" || part == "text_encoder" || part == "text_encoder_2", part);
  for (const auto& [key, shape] : weights) {
    if (!ends_with(key, ".weight") || (shape.size() != 2 && shape.size() != 4)) continue;
    const std::string prefix = key.substr(0, key.size() - std::string(".weight").size());
    if (prefix.find("embeddings.") != std::string::npos) continue;  // lookup tables, not layers
    auto t = std::make_unique<LoraTarget>(LoraTarget{part, prefix, shape});
    std::vector<std::string> names;
    if (part == "unet") {
      names = {"lora_unet_" + underscored(prefix), "unet." + prefix};
      if (ldm_names)
        if (const std::string ldm = ldm_names(prefix); !ldm.empty()) names.push_back("lora_unet_" + underscored(ldm));
    } else {
      // kohya writes CLIP's modules from "text_model."; transformers 5 saves
      // the text encoder without it, and PEFT names modules either way. SDXL's
      // two encoders are lora_te1_ / lora_te2_ in kohya's files.
      const std::string bare = starts_with(prefix, "text_model.") ? prefix.substr(11) : prefix;
      const bool second = part == "text_encoder_2";
      for (const char* k : second ? std::vector<const char*>{"lora_te2_"} : std::vector<const char*>{"lora_te_", "lora_te1_"})
        names.insert(names.end(), {k + underscored("text_model." + bare), k + underscored(bare)});
      names.insert(names.end(), {part + "." + bare, part + ".text_model." + bare});
    }
    for (const auto& n : names) by_name_[n] = t.get();
    targets_.push_back(std::move(t));
  }
}

const LoraTarget* LoraTargets::find(const std::string& module) const {
  const auto it = by_name_.find(module);
  return it == by_name_.end() ? nullptr : it->second;
}

LoraFile read_lora_file(const std::string& path, const LoraTargets& targets,
                        const std::function<bool(const LoraTarget&)>& wanted) {
  const SafetensorsFile f(path);  // a truncated or corrupt file fails here, naming it
  LoraFile out;
  out.path = path;
  nlohmann::json meta;
  if (const auto it = f.metadata().find("lora_adapter_metadata"); it != f.metadata().end()) {
    try {
      meta = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      fail(path, ": header field 'lora_adapter_metadata' is not valid JSON: ", e.what());
    }
  }

  // Group the keys by layer; keep every key that patches nothing.
  struct Keys {
    std::string module, down, up, alpha;
  };
  std::map<const LoraTarget*, Keys> by_target;
  std::vector<std::string> unmatched;
  for (const auto& [key, entry] : f.entries()) {
    const auto parsed = parse_key(key);
    const LoraTarget* t = parsed ? targets.find(parsed->module) : nullptr;
    if (!t) {
      unmatched.push_back(key);
      continue;
    }
    if (starts_with(key, "lora_unet_") || starts_with(key, "lora_te")) out.format = LoraFormat::kohya;
    Keys& k = by_target[t];
    if (!k.module.empty() && k.module != parsed->module)
      fail(path, ": keys '", k.module, "' and '", parsed->module, "' both patch layer '", t->part, "/", t->prefix, "'");
    k.module = parsed->module;
    std::string& slot = parsed->role == Role::down ? k.down : parsed->role == Role::up ? k.up : k.alpha;
    if (!slot.empty()) fail(path, ": keys '", slot, "' and '", key, "' are the same LoRA weight of one layer");
    slot = key;
  }
  if (!unmatched.empty()) {
    std::string list;
    for (size_t i = 0; i < unmatched.size() && i < 12; ++i) list += cat(i ? ", " : "", "'", unmatched[i], "'");
    if (unmatched.size() > 12) list += cat(" and ", unmatched.size() - 12, " more");
    fail(path, ": ", unmatched.size(), " of its ", f.entries().size(), " LoRA keys match no layer of ", targets.model(),
         ": ", list);
  }
  if (by_target.empty()) fail(path, ": no LoRA weights in this file");

  for (const auto& [t, k] : by_target) {
    if (k.down.empty() || k.up.empty())
      fail(path, ": LoRA module '", k.module, "' has ", k.down.empty() ? "no down (lora_A)" : "no up (lora_B)",
           " weight; only '", k.down.empty() ? k.up : k.down, "'");
    LoraModule m;
    m.target = *t;
    m.down_key = k.down;
    m.up_key = k.up;
    check_shapes(path, m, f.find(k.down)->shape, f.find(k.up)->shape);
    m.rank = f.find(k.down)->shape[0];
    if (!k.alpha.empty() && numel(f.find(k.alpha)->shape) != 1)
      fail(path, ": LoRA alpha '", k.alpha, "' has shape ", shape_str(f.find(k.alpha)->shape), " (expected one value)");
    if (wanted(*t)) {
      for (const std::string& key : {k.down, k.up})
        if (const DType d = f.find(key)->dtype; d != DType::f32 && d != DType::f16 && d != DType::bf16)
          fail(path, ": LoRA weight '", key, "' has dtype ", dtype_name(d), " (expected F32, F16 or BF16)");
      m.down = f.load_f32(k.down);
      m.up = f.load_f32(k.up);
      out.read_keys.insert({k.down, k.up});
      if (!k.alpha.empty()) {
        m.alpha = f.load_f32(k.alpha).data.at(0);
        out.read_keys.insert(k.alpha);
      } else {
        m.alpha = metadata_alpha(meta, *t).value_or(static_cast<double>(m.rank));
      }
    }
    out.modules.push_back(std::move(m));
  }
  return out;
}

LoraAdapter::LoraAdapter(std::string name, LoraFile file, std::map<std::string, LayerIndex>& layers, Backend& be)
    : name_(std::move(name)), file_(std::move(file)), backend_(be) {
  // Every layer first, then the patches: a failure leaves no layer patched
  // (a stale patch could match a later adapter at the same address).
  std::vector<std::pair<Linear*, Conv2d*>> layer_of(file_.modules.size(), {nullptr, nullptr});
  for (size_t i = 0; i < file_.modules.size(); ++i) {
    const LoraModule& m = file_.modules[i];
    if (!m.down.defined()) continue;  // a layer of another stage
    LayerIndex& index = layers[m.target.part];
    const auto lin = index.linear.find(m.target.prefix);
    const auto conv = index.conv.find(m.target.prefix);
    if (lin != index.linear.end()) layer_of[i].first = lin->second;
    else if (conv != index.conv.end()) layer_of[i].second = conv->second;
    else
      fail(file_.path, ": LoRA module '", m.down_key, "' patches '", m.target.part, "/", m.target.prefix,
           "', which is not a linear or conv layer of this model");
  }
  for (size_t i = 0; i < file_.modules.size(); ++i) {
    LoraModule& m = file_.modules[i];
    const auto [lin, conv] = layer_of[i];
    if (!lin && !conv) continue;
    const Shape& base = m.target.shape;
    LoraPatch p;
    p.adapter = this;
    p.slot = slot_module_.size();
    p.rank = m.rank;
    m.up = std::move(m.up).reshaped({base[0], m.rank});  // [out, rank]: a linear over channels
    if (lin) {
      FARM_ASSERT(lin->in == base[1] && lin->out == base[0], m.target.prefix);
      p.down = be.weight(Tensor(m.down).reshaped({m.rank, lin->in}));
      lin->lora.push_back(std::move(p));
    } else {
      FARM_ASSERT(conv->in == base[1] && conv->out == base[0], m.target.prefix);
      p.down = be.weight(oihw_to_ohwi(Tensor(m.down).reshaped({m.rank, conv->in, conv->kernel, conv->kernel})));
      conv->lora.push_back(std::move(p));
    }
    slot_module_.push_back(i);
  }
}

std::shared_ptr<const std::vector<Tensor>> LoraAdapter::scaled_ups(double weight) const {
  const std::lock_guard<std::mutex> lock(mu_);
  auto& placed = placed_[weight];
  if (!placed) {
    auto ups = std::make_shared<std::vector<Tensor>>();
    for (const size_t i : slot_module_) {
      const LoraModule& m = file_.modules[i];
      const float scale = static_cast<float>(weight * m.alpha / static_cast<double>(m.rank));
      Tensor up = m.up;
      for (float& v : up.data) v *= scale;
      ups->push_back(backend_.weight(std::move(up)));
    }
    placed = std::move(ups);
  }
  return placed;
}

namespace {
thread_local const ActiveLoras* t_active = nullptr;
}  // namespace

const ActiveLoras* active_loras() { return t_active; }

ActiveLoraScope::ActiveLoraScope(ActiveLoras set) : set_(std::move(set)), previous_(t_active) { t_active = &set_; }

ActiveLoraScope::~ActiveLoraScope() { t_active = previous_; }

}  // namespace farm::model
