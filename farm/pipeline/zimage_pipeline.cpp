#include "farm/pipeline/zimage_pipeline.h"

#include <malloc.h>

#include <algorithm>
#include <filesystem>

#include "farm/core/error.h"
#include "farm/io/json_config.h"
#include "farm/io/weight_store.h"
#include "farm/model/layers.h"

namespace farm::pipeline {
namespace fs = std::filesystem;

bool is_zimage_folder(const std::string& path) {
  const fs::path index = fs::path(path) / "model_index.json";
  if (!fs::is_regular_file(index)) return false;
  try {
    return JsonConfig::load(index.string()).get_string("_class_name") == "ZImagePipeline";
  } catch (const Error&) {
    return false;
  }
}

ZImageModel ZImageModel::open(const std::string& dir) {
  if (!fs::is_regular_file(fs::path(dir) / "model_index.json"))
    fail(dir, ": model folder is missing (expected a diffusers ZImagePipeline folder with model_index.json)");
  const JsonConfig index = JsonConfig::load((fs::path(dir) / "model_index.json").string());
  index.require_one_of("_class_name", {"ZImagePipeline"});
  auto sub = [&](const char* part, const char* file) { return (fs::path(dir) / part / file).string(); };

  // Configs first: a bad value fails before gigabytes are read.
  const auto text_cfg = model::Qwen3Config::load(sub("text_encoder", "config.json"));
  const auto dit_cfg = model::ZImageDitConfig::load(sub("transformer", "config.json"));
  const auto vae_cfg = model::VaeConfig::load(sub("vae", "config.json"));
  if (dit_cfg.cap_feat_dim != text_cfg.hidden_size)
    fail(sub("transformer", "config.json"), ": field 'cap_feat_dim': ", dit_cfg.cap_feat_dim,
         " does not match the text encoder's hidden_size ", text_cfg.hidden_size);
  if (dit_cfg.in_channels != vae_cfg.latent_channels)
    fail(sub("transformer", "config.json"), ": field 'in_channels': ", dit_cfg.in_channels,
         " does not match the VAE's latent_channels ", vae_cfg.latent_channels);
  if (text_cfg.layers < 2)
    fail(sub("text_encoder", "config.json"), ": field 'num_hidden_layers': ZImagePipeline reads hidden_states[-2], "
         "so the encoder needs at least 2 layers");

  ZImageModel m;
  m.dir = dir;
  m.name = fs::path(dir).lexically_normal().filename().string();
  if (m.name.empty()) m.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  m.scheduler = sched::FlowMatchConfig::from_json_file(sub("scheduler", "scheduler_config.json"));
  if (fs::exists(fs::path(dir) / "tokenizer")) {
    m.tokenizer =
        std::make_unique<text::QwenTokenizer>(text::QwenTokenizer::from_folder((fs::path(dir) / "tokenizer").string()));
    if (m.tokenizer->vocab_size() > static_cast<size_t>(text_cfg.vocab_size))
      fail(sub("text_encoder", "config.json"), ": field 'vocab_size': ", text_cfg.vocab_size,
           " is smaller than the tokenizer's ", m.tokenizer->vocab_size(), " tokens");
  }
  m.text_encoder = std::make_unique<model::Qwen3TextEncoder>(text_cfg, text_cfg.layers - 1);
  m.transformer = std::make_unique<model::ZImageDit>(dit_cfg);
  m.vae = std::make_unique<model::VaeDecoder>(vae_cfg);
  return m;
}

void ZImageModel::load_weights(kernels::Backend& be, const ZImageParts& parts) {
  auto load_part = [&](const char* part, const auto& load) {
    const std::string sub = (fs::path(dir) / part).string();
    if (parts.random_weights) {
      load(model::WeightLoader::random(sub, parts.seed, be));
      return;
    }
    const WeightStore w(sub);
    load(model::WeightLoader(w, be));
    weight_bytes += w.loaded_bytes();
  };
  const size_t end = std::min(parts.dit_end, transformer->blocks().size());
  if (parts.dit_begin < end)
    load_part("transformer", [&](const model::WeightLoader& l) { transformer->load(l, parts.dit_begin, end); });
  if (parts.text_encoder) load_part("text_encoder", [&](const model::WeightLoader& l) { text_encoder->load(l); });
  if (parts.vae) load_part("vae", [&](const model::WeightLoader& l) { vae->load(l); });
  malloc_trim(0);  // hand the freed fp32 staging copies back before the first render
}

ZImageModel ZImageModel::load(const std::string& dir, kernels::Backend& be) {
  ZImageModel m = open(dir);
  m.load_weights(be);
  return m;
}

std::vector<int64_t> ZImageModel::prompt_ids(const std::string& prompt) const {
  if (!tokenizer)
    fail(dir, ": the folder has no tokenizer/ (a config-only folder); copy a Qwen2 tokenizer (tokenizer.json) there");
  return tokenizer->encode_prompt(prompt);
}

void check_request(const ZImageModel& m, const ZImageRequest& r) {
  const int64_t k = m.size_multiple();
  if (r.width <= 0 || r.height <= 0 || r.width % k != 0 || r.height % k != 0)
    fail("size ", r.width, "x", r.height, ": a Z-Image side must be a positive multiple of ", k,
         " (the VAE's scale times the transformer's 2x2 patch)");
  if (r.steps < 1) fail("steps ", r.steps, ": expected at least 1");
  if (!(r.guidance >= 0.0)) fail("guidance ", r.guidance, ": expected 0 (off, Turbo's) or more");
}

ZImageLoop::ZImageLoop(const ZImageModel& m, std::vector<ZImageRequest> batch, const sched::FlowMatchConfig* scheduler)
    : batch_(std::move(batch)) {
  FARM_ASSERT(!batch_.empty(), "an empty micro-batch");
  const ZImageRequest& r0 = batch_.front();
  for (const auto& r : batch_) {
    check_request(m, r);
    if (r.width != r0.width || r.height != r0.height || r.steps != r0.steps)
      fail("a Z-Image micro-batch needs one size and step count: ", r.width, "x", r.height, " ", r.steps,
           " steps beside ", r0.width, "x", r0.height, " ", r0.steps);
  }
  // Latents as prepare_latents draws them: NCHW randn, kept NHWC.
  c_ = m.transformer->config().in_channels;
  const int64_t vsf = m.vae->config().scale_factor();
  h_ = 2 * (r0.height / (vsf * 2)), w_ = 2 * (r0.width / (vsf * 2));
  x_ = Tensor({items(), h_, w_, c_});
  const auto& cfg = scheduler ? *scheduler : m.scheduler;
  for (size_t k = 0; k < batch_.size(); ++k) {
    const auto& r = batch_[k];
    gens_.push_back(std::make_unique<rng::TorchGenerator>(r.seed));
    Tensor noise({1, c_, h_, w_});
    gens_.back()->randn(noise.ptr(), noise.size());
    const Tensor nhwc = nchw_to_nhwc(noise);
    std::copy(nhwc.data.begin(), nhwc.data.end(), x_.ptr() + static_cast<int64_t>(k) * h_ * w_ * c_);
    samplers_.push_back(sched::make_flow_euler(cfg, r.steps, (h_ / 2) * (w_ / 2)));
  }
  steps_ = samplers_.front()->steps();
  for (size_t k = 0; k < batch_.size(); ++k) {
    row_item_.push_back(static_cast<int64_t>(k));
    row_prompt_.push_back(batch_[k].prompt);
    uncond_row_.push_back(-1);
    if (batch_[k].guidance > 0.0) {
      uncond_row_.back() = static_cast<int64_t>(row_item_.size());
      row_item_.push_back(static_cast<int64_t>(k));
      row_prompt_.push_back(batch_[k].negative_prompt.value_or(""));
    }
  }
}

float ZImageLoop::t(int step) const { return (1000.0f - samplers_.front()->timestep(step)) / 1000.0f; }

Tensor ZImageLoop::item_latents(int64_t item) const {
  Tensor x({1, h_, w_, c_});
  const int64_t n = h_ * w_ * c_;
  std::copy(x_.ptr() + item * n, x_.ptr() + (item + 1) * n, x.ptr());
  return x;
}

void ZImageLoop::advance(int step, const std::vector<Tensor>& row_out) {
  FARM_ASSERT(static_cast<int64_t>(row_out.size()) == rows(), row_out.size(), " outputs for ", rows(), " rows");
  const int64_t n = h_ * w_ * c_;
  int64_t row = 0;
  for (size_t k = 0; k < batch_.size(); ++k, ++row) {
    Tensor pred = row_out[static_cast<size_t>(row)];
    FARM_ASSERT(pred.size() == n, "row ", row, ": ", shape_str(pred.shape));
    if (uncond_row_[k] >= 0) {
      const Tensor& uncond = row_out[static_cast<size_t>(++row)];
      const auto g = static_cast<float>(batch_[k].guidance);
      for (int64_t i = 0; i < n; ++i) pred.data[i] = pred.data[i] + g * (pred.data[i] - uncond.data[i]);
    }
    for (float& v : pred.data) v = -v;  // the pipeline negates the DiT's output
    auto& gen = *gens_[k];
    samplers_[k]->step(step, pred.ptr(), x_.ptr() + static_cast<int64_t>(k) * n, n,
                       [&gen](float* out, int64_t m) { gen.randn(out, m); });
  }
}

ZImageRun zimage_txt2img(const ZImageModel& m, kernels::Backend& be, const ZImageRequest& r,
                         const sched::FlowMatchConfig* scheduler, bool keep_steps) {
  ZImageLoop loop(m, {r}, scheduler);
  std::vector<Tensor> captions;
  for (int64_t row = 0; row < loop.rows(); ++row)
    captions.push_back(m.text_encoder->forward(be, m.prompt_ids(loop.row_prompt(row))));
  ZImageRun run;
  for (int i = 0; i < loop.steps(); ++i) {
    std::vector<Tensor> out;
    for (const auto& cap : captions) out.push_back(m.transformer->forward(be, loop.item_latents(0), cap, loop.t(i)));
    loop.advance(i, out);
    if (keep_steps) run.step_latents.push_back(loop.latents());
  }
  run.latents = loop.latents();
  run.image = m.vae->decode(be, m.vae->config().decoder_input(run.latents));
  for (float& v : run.image.data) v = std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f);
  return run;
}

}  // namespace farm::pipeline
