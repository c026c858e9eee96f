// LoRA: low-rank updates applied at run time to a model's Linear and Conv2d
// layers, y = base(x) + weight · (alpha / rank) · up(down(x)), without
// reloading or rewriting the base weights. A conv's down is a conv with the
// base conv's kernel, stride and padding (LoCon), its up a 1×1.
//
// Files: kohya (`lora_unet_<path with _>` / `lora_te_<...>` + `.lora_down.weight`,
// `.lora_up.weight`, `.alpha`) and diffusers/PEFT (`unet.<path>.lora_A.weight` /
// `lora_B.weight`, `text_encoder.<path>...`, alpha from `lora_adapter_metadata`
// in the header, else alpha = rank), plus the older diffusers spellings
// (`.lora.down.weight`, `.lora_linear_layer.down.weight`,
// `<attn>.processor.to_q_lora.down.weight`). F32/F16/BF16.
//
// Module names are matched against the base model's own checkpoint keys (the
// whole model's, also on a pipeline stage that loads part of it), so a key that
// patches nothing is an error before any compute; only the modules of layers a
// rank loaded have their tensors read.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "farm/model/layers.h"

namespace farm::model {

// A LoRA by the name it was loaded under, and its weight in a set.
struct LoraRef {
  std::string name;
  double weight = 1.0;
};
using LoraSet = std::vector<LoraRef>;

// A layer a LoRA can patch.
struct LoraTarget {
  std::string part;    // "unet" or "text_encoder"
  std::string prefix;  // its checkpoint key in that part, less ".weight"
  Shape shape;         // the base weight: [out, in] or [out, in, k, k]
};

// Every name a LoRA file may give a layer -> the layer.
class LoraTargets {
 public:
  explicit LoraTargets(std::string model) : model_(std::move(model)) {}
  // A part's checkpoint weights (key, shape): those of 2 or 4 dims, less the
  // embedding tables, are layers LoRAs patch.
  // ldm_names: the original (LDM/SGM) name of a UNet module, or "" (kohya's
  // SDXL LoRAs name the UNet's modules so); null: none.
  void add_part(const std::string& part, const std::vector<std::pair<std::string, Shape>>& weights,
                const std::function<std::string(const std::string&)>& ldm_names = {});
  // `module`: a file's key less its LoRA suffix ("lora_unet_conv_in", "unet.conv_in").
  const LoraTarget* find(const std::string& module) const;
  const std::string& model() const { return model_; }

 private:
  std::string model_;  // for messages
  std::vector<std::unique_ptr<LoraTarget>> targets_;
  std::map<std::string, const LoraTarget*> by_name_;
};

enum class LoraFormat { kohya, diffusers };
const char* lora_format_name(LoraFormat f);

// One layer's update as a file gives it, checked against the layer.
struct LoraModule {
  LoraTarget target;  // the layer (a copy: the table is gone after loading)
  std::string down_key, up_key;
  int64_t rank = 0;
  double alpha = 0;  // scale at weight 1: alpha / rank
  Tensor down, up;   // host fp32 as stored ([rank, in(, k, k)], [out, rank(, 1, 1)]); empty unless read
};

struct LoraFile {
  std::string path;
  LoraFormat format = LoraFormat::diffusers;
  std::vector<LoraModule> modules;
  std::set<std::string> read_keys;  // tensors read (a stage reads only its layers')
};

// Reads a LoRA file's header, matches every key to a layer of `targets`
// (error naming the file and listing the keys that match none), checks every
// shape, and reads the tensors of the modules `wanted` selects.
LoraFile read_lora_file(const std::string& path, const LoraTargets& targets,
                        const std::function<bool(const LoraTarget&)>& wanted);

// A LoRA patched onto a model's loaded layers. Its up weights, scaled by
// weight · alpha / rank, are placed on the backend once per weight used.
class LoraAdapter {
 public:
  // Patches every read module of `file` onto its layer in `layers` (by part);
  // error when a loaded module's layer is not one farm can patch.
  LoraAdapter(std::string name, LoraFile file, std::map<std::string, LayerIndex>& layers, Backend& be);
  LoraAdapter(const LoraAdapter&) = delete;
  LoraAdapter& operator=(const LoraAdapter&) = delete;

  const std::string& name() const { return name_; }
  const LoraFile& file() const { return file_; }
  // Up weights [out, rank] by patch slot, at `weight`; thread-safe, cached.
  std::shared_ptr<const std::vector<Tensor>> scaled_ups(double weight) const;

 private:
  std::string name_;
  LoraFile file_;  // the host tensors (downs are also placed, in the patches)
  Backend& backend_;
  std::vector<size_t> slot_module_;  // slot -> index into file_.modules
  mutable std::mutex mu_;
  mutable std::map<double, std::shared_ptr<const std::vector<Tensor>>> placed_;
};

// A LoRA of the active set, with its up weights at the set's weight.
struct ActiveLora {
  const LoraAdapter* adapter = nullptr;
  std::shared_ptr<const std::vector<Tensor>> ups;
};
using ActiveLoras = std::vector<ActiveLora>;

// The set the calling thread's forwards apply; null when none.
const ActiveLoras* active_loras();

// Makes `set` the calling thread's active set until destroyed, then restores
// the one before it.
class ActiveLoraScope {
 public:
  explicit ActiveLoraScope(ActiveLoras set);
  ~ActiveLoraScope();
  ActiveLoraScope(const ActiveLoraScope&) = delete;
  ActiveLoraScope& operator=(const ActiveLoraScope&) = delete;

 private:
  ActiveLoras set_;
  const ActiveLoras* previous_;
};

}  // namespace farm::model
