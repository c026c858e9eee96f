#include "farm/pipeline/sd_model.h"

#include <malloc.h>

#include <algorithm>
#include <filesystem>

#include "farm/core/error.h"
#include "farm/io/json_config.h"

namespace farm::pipeline {

namespace fs = std::filesystem;

SdModel SdModel::open(const std::string& path) {
  const ModelSource src = resolve_model_source(path);
  const std::string& dir = src.config_dir;
  if (!fs::is_directory(dir))
    fail(dir, ": model folder is missing (expected a diffusers folder with model_index.json, or a .safetensors ",
         "single-file checkpoint)");
  const JsonConfig index = JsonConfig::load((fs::path(dir) / "model_index.json").string());
  const std::string cls = index.get_string("_class_name", "StableDiffusionPipeline");
  if (cls != "StableDiffusionPipeline" && cls != "StableDiffusionXLPipeline" &&
      cls != "StableDiffusionXLImg2ImgPipeline")
    index.bad("_class_name", "'" + cls + "' is not supported (StableDiffusionPipeline: SD 1.x/2.x; "
              "StableDiffusionXLPipeline: SDXL base; StableDiffusionXLImg2ImgPipeline: SDXL refiner)");
  const bool xl = cls != "StableDiffusionPipeline";
  // The refiner: its second text encoder only, and the aesthetic score among its time ids.
  const bool refiner = xl && index.get_bool("requires_aesthetics_score", false);
  const auto null_component = [&](const char* part) {
    const auto& j = index.json().value(part, nlohmann::json());
    return j.is_array() && !j.empty() && j[0].is_null();
  };
  if (refiner && !null_component("text_encoder"))
    index.bad("text_encoder", "an SDXL refiner (requires_aesthetics_score: true) has none; expected [null, null]");
  if (!refiner && cls == "StableDiffusionXLImg2ImgPipeline")
    index.bad("requires_aesthetics_score", "expected true: farm runs an SDXL Img2Img folder only as a refiner");
  std::vector<const char*> parts = {"unet", "vae", "scheduler"};
  if (!refiner) parts.insert(parts.end(), {"text_encoder", "tokenizer"});
  if (xl) parts.insert(parts.end(), {"text_encoder_2", "tokenizer_2"});
  for (const char* part : parts) {
    if (!index.has(part)) index.bad(part, "missing: the pipeline needs this component");
    if (!fs::is_directory(fs::path(dir) / part)) fail((fs::path(dir) / part).string(), ": component folder is missing");
  }
  SdModel m;
  m.refiner = refiner;
  m.dir = dir;
  m.name = fs::path(dir).lexically_normal().filename().string();
  if (m.name.empty()) m.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  m.checkpoint = src.checkpoint;
  if (m.checkpoint == path) m.name = fs::path(path).stem().string();  // A1111's name for a checkpoint file
  auto sub = [&](const char* part, const char* file) { return (fs::path(dir) / part / file).string(); };

  // Configs first: a bad value fails before gigabytes are read.
  auto unet_cfg = model::UNetConfig::load(sub("unet", "config.json"));
  if (refiner) unet_cfg.time_ids = model::UNetConfig::kTimeIds - 1;
  // The refiner has no first encoder: its context is the second's state alone.
  auto text_cfg = refiner ? model::ClipTextConfig{} : model::ClipTextConfig::load(sub("text_encoder", "config.json"));
  auto vae_cfg = model::VaeConfig::load(sub("vae", "config.json"));
  // diffusers' SD pipelines decode z / scaling_factor and never read a shift:
  // a shifted VAE is another family's (FLUX, Z-Image: 16 latent channels).
  if (vae_cfg.shift_factor != 0.0f)
    fail(sub("vae", "config.json"), ": field 'shift_factor': ", vae_cfg.shift_factor,
         "; a Stable Diffusion VAE has none (this one belongs to a FLUX-style model)");
  m.scheduler = sched::SchedulerConfig::from_json_file(sub("scheduler", "scheduler_config.json"));
  if (xl) {
    auto text2_cfg = model::ClipTextConfig::load(sub("text_encoder_2", "config.json"));
    if (!text2_cfg.with_projection)
      fail(sub("text_encoder_2", "config.json"), ": field 'architectures': expected CLIPTextModelWithProjection "
           "(SDXL pools its second text encoder through text_projection)");
    if (refiner && unet_cfg.context_dim() != text2_cfg.hidden_size)
      fail(sub("unet", "config.json"), ": field 'cross_attention_dim': ", unet_cfg.context_dim(),
           " does not match text_encoder_2's hidden size ", text2_cfg.hidden_size, " (a refiner's context)");
    if (!refiner && unet_cfg.context_dim() != text_cfg.hidden_size + text2_cfg.hidden_size)
      fail(sub("unet", "config.json"), ": field 'cross_attention_dim': ", unet_cfg.context_dim(),
           " does not match the text encoders' hidden sizes ", text_cfg.hidden_size, " + ", text2_cfg.hidden_size);
    if (!unet_cfg.text_time())
      fail(sub("unet", "config.json"), ": field 'addition_embed_type': an SDXL UNet takes \"text_time\"");
    if (unet_cfg.text_embeds_dim() != text2_cfg.projection_dim)
      fail(sub("unet", "config.json"), ": field 'projection_class_embeddings_input_dim': ",
           unet_cfg.projection_class_embeddings_input_dim, " is not the pooled width ", text2_cfg.projection_dim,
           " (text_encoder_2's projection_dim) + ", unet_cfg.time_ids, " x addition_time_embed_dim ",
           unet_cfg.addition_time_embed_dim);
    m.text_encoder_2 = std::make_unique<model::ClipTextEncoder>(std::move(text2_cfg));
    m.tokenizer_2 = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_folder(sub("tokenizer_2", "")));
    m.force_zeros_for_empty_prompt = index.get_bool("force_zeros_for_empty_prompt", true);
  } else {
    if (unet_cfg.context_dim() != text_cfg.hidden_size)
      fail(sub("unet", "config.json"), ": field 'cross_attention_dim': ", unet_cfg.context_dim(),
           " does not match the text encoder's hidden_size ", text_cfg.hidden_size, " (",
           sub("text_encoder", "config.json"), ")");
    if (unet_cfg.text_time())
      fail(sub("unet", "config.json"), ": field 'addition_embed_type': \"text_time\" is SDXL's; this folder's "
           "model_index.json names ", cls);
  }
  if (unet_cfg.in_channels != vae_cfg.latent_channels || unet_cfg.out_channels != vae_cfg.latent_channels)
    fail(sub("unet", "config.json"), ": in/out_channels ", unet_cfg.in_channels, "/", unet_cfg.out_channels,
         " do not match the VAE's latent_channels ", vae_cfg.latent_channels);
  if (!refiner)
    m.tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_folder(sub("tokenizer", "")));

  if (!m.checkpoint.empty()) {
    const bool file_xl = src.family == CheckpointFamily::sdxl, file_refiner = src.family == CheckpointFamily::sdxl_refiner;
    if (file_xl != (xl && !refiner) || file_refiner != refiner)
      fail(m.checkpoint, ": an ", checkpoint_family_name(src.family), " checkpoint, but the configs in ", dir,
           " are ", cls, "'s");
    if (src.family == CheckpointFamily::sd2)
      if (const std::string p = sidecar_prediction_type(m.checkpoint); !p.empty()) m.scheduler.prediction_type = p;
  }
  m.unet = std::make_unique<model::UNet>(std::move(unet_cfg));
  if (!refiner) m.text_encoder = std::make_unique<model::ClipTextEncoder>(std::move(text_cfg));
  m.vae = std::make_unique<model::VaeDecoder>(std::move(vae_cfg));
  if (!m.checkpoint.empty())
    m.checkpoint_keys = map_checkpoint_keys(SafetensorsFile(m.checkpoint), src.family, m.ldm_layout());
  return m;
}

void SdModel::load_weights(kernels::Backend& be, const LoadParts& parts) {
  FARM_ASSERT(!backend || backend == &be, "a model's weights on two backends");
  // SDXL's original VAE overflows in fp16 (its activations pass 65504): diffusers
  // upcasts it to fp32 (force_upcast). One dtype runs a whole backend here, so
  // refuse before any work rather than decode inf/NaN images.
  if (parts.vae && sdxl() && vae->config().force_upcast && be.dtype() == DType::f16)
    fail((fs::path(dir) / "vae" / "config.json").string(), ": this VAE overflows in fp16 (force_upcast: true, as ",
         "SDXL's original VAE); render with --dtype bf16 (same range as fp32), or use a VAE made for fp16 ",
         "(e.g. madebyollin/sdxl-vae-fp16-fix, force_upcast: false)");
  backend = &be;
  // One part's weights, from its files or (random_weights) drawn from the seed.
  auto load_part = [&](const char* part, const auto& load) {
    const std::string sub = (fs::path(dir) / part).string();
    if (parts.random_weights) {
      auto loader = model::WeightLoader::random(sub, parts.seed, be);
      if (std::string(part) != "vae") loader.index_layers(&layers[part]);
      load(loader);
      for (const auto& k : loader.keys()) loaded_keys.insert(cat(part, "/", k));
      return;
    }
    const WeightStore w = checkpoint.empty() ? WeightStore(sub, parts.share) : part_store(part, parts.share);
    model::WeightLoader loader(w, be);
    if (std::string(part) != "vae") loader.index_layers(&layers[part]);
    load(loader);
    weight_bytes += w.loaded_bytes();
    weight_bytes_read += w.bytes_read();
    weight_bytes_received += w.bytes_received();
    for (const auto& k : w.loaded_keys()) loaded_keys.insert(cat(part, "/", k));
  };
  const size_t end = std::min(parts.unet_end, unet->blocks().size());
  if (parts.unet_begin < end)
    load_part("unet", [&](const model::WeightLoader& l) { unet->load(l, parts.unet_begin, end); });
  if (parts.text_encoder && text_encoder)
    load_part("text_encoder", [&](const model::WeightLoader& l) { text_encoder->load(l); });
  if (parts.text_encoder && text_encoder_2)
    load_part("text_encoder_2", [&](const model::WeightLoader& l) { text_encoder_2->load(l); });
  if (parts.vae) load_part("vae", [&](const model::WeightLoader& l) { vae->load(l); });
  // Loading freed a file's worth of fp32 copies in pieces under glibc's trim
  // threshold; hand the free heap back before the first render.
  malloc_trim(0);
}

LdmLayout SdModel::ldm_layout() const {
  LdmLayout l;
  l.layers_per_block = unet->config().layers_per_block;
  l.up_attention = unet->config().up_cross_attention;
  l.vae_levels = static_cast<int>(vae->config().block_out_channels.size());
  l.text_layers = text_encoder ? text_encoder->config().layers : 0;
  l.text2_layers = text_encoder_2 ? text_encoder_2->config().layers : 0;
  return l;
}

WeightStore SdModel::part_store(const std::string& part, WeightShare* share) const {
  const auto it = checkpoint_keys.find(part);
  if (it == checkpoint_keys.end() || it->second.empty())
    fail(checkpoint, ": holds no ", part, " weights (a full ", sdxl() ? "SDXL" : "SD", " checkpoint has the UNet, ",
         "the text encoder", sdxl() ? "s" : "", " and the VAE)");
  return WeightStore(checkpoint, it->second, share);
}

SdModel SdModel::load(const std::string& dir, kernels::Backend& be) {
  SdModel m = open(dir);
  m.load_weights(be);
  return m;
}

void SdModel::load_loras(const std::vector<std::pair<std::string, std::string>>& name_paths) {
  if (!backend) fail(dir, ": LoRAs are loaded after the model's weights (load_weights)");
  // The whole model's layers, from the files' headers: a key that patches no
  // layer is an error on every rank alike. A config-only folder (random
  // weights) has no headers; there the layers this rank drew stand in.
  model::LoraTargets targets("model " + dir);
  std::vector<std::string> lora_parts = {"unet"};
  if (text_encoder) lora_parts.push_back("text_encoder");
  if (sdxl()) lora_parts.push_back("text_encoder_2");
  for (const std::string& part : lora_parts) {
    const std::string sub = (fs::path(dir) / part).string();
    std::vector<std::pair<std::string, Shape>> weights;
    bool has_files = !checkpoint.empty();
    if (!has_files)
      for (const auto& e : fs::directory_iterator(sub)) has_files |= e.path().extension() == ".safetensors";
    if (has_files) {
      const WeightStore w = checkpoint.empty() ? WeightStore(sub) : part_store(part, nullptr);
      for (const auto& k : w.keys()) weights.emplace_back(k, w.shape_of(k));
    } else {
      for (const auto& [prefix, l] : layers[part].linear)
        weights.emplace_back(prefix + ".weight", Shape{l->out, l->in});
      for (const auto& [prefix, c] : layers[part].conv)
        weights.emplace_back(prefix + ".weight", Shape{c->out, c->in, c->kernel, c->kernel});
    }
    const LdmLayout layout = ldm_layout();
    targets.add_part(part, weights, [&](const std::string& m) { return ldm_unet_module(m, layout); });
  }
  const auto loaded_here = [&](const model::LoraTarget& t) {
    return loaded_keys.count(cat(t.part, "/", t.prefix, ".weight")) > 0;
  };
  for (const auto& [name, path] : name_paths) {
    if (name.empty()) fail(path, ": a LoRA needs a name");
    if (loras.count(name)) fail(path, ": a LoRA named '", name, "' is already loaded (", loras[name]->file().path, ")");
    model::LoraFile file = model::read_lora_file(path, targets, loaded_here);
    loras[name] = std::make_unique<model::LoraAdapter>(name, std::move(file), layers, *backend);
  }
}

namespace {

model::ActiveLoras active_set(const SdModel& m, const model::LoraSet& set) {
  model::ActiveLoras r;
  for (const auto& ref : set) {
    const auto it = m.loras.find(ref.name);
    if (it == m.loras.end()) {
      std::string known;
      for (const auto& [n, l] : m.loras) known += cat(known.empty() ? "" : ", ", n);
      fail("LoRA '", ref.name, "' is not loaded for model ", m.name,
           known.empty() ? std::string(" (none is)") : cat(" (loaded: ", known, ")"));
    }
    if (ref.weight == 0) continue;  // no update: the base layer's output as is
    r.push_back({it->second.get(), it->second->scaled_ups(ref.weight)});
  }
  return r;
}

}  // namespace

LoraScope::LoraScope(const SdModel& m, const model::LoraSet& set) : scope_(active_set(m, set)) {}

}  // namespace farm::pipeline
