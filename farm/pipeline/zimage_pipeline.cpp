#include "farm/pipeline/zimage_pipeline.h"

#include <algorithm>
#include <filesystem>

#include "farm/core/error.h"
#include "farm/io/json_config.h"
#include "farm/io/weight_store.h"
#include "farm/rng/torch_generator.h"

namespace farm::pipeline {
namespace fs = std::filesystem;

ZImageModel ZImageModel::load(const std::string& dir, kernels::Backend& be) {
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
  m.scheduler = sched::FlowMatchConfig::from_json_file(sub("scheduler", "scheduler_config.json"));
  m.tokenizer = std::make_unique<text::QwenTokenizer>(text::QwenTokenizer::from_folder((fs::path(dir) / "tokenizer").string()));
  if (m.tokenizer->vocab_size() > static_cast<size_t>(text_cfg.vocab_size))
    fail(sub("text_encoder", "config.json"), ": field 'vocab_size': ", text_cfg.vocab_size,
         " is smaller than the tokenizer's ", m.tokenizer->vocab_size(), " tokens");
  m.text_encoder = std::make_unique<model::Qwen3TextEncoder>(text_cfg, text_cfg.layers - 1);
  m.transformer = std::make_unique<model::ZImageDit>(dit_cfg);
  m.vae = std::make_unique<model::VaeDecoder>(vae_cfg);
  m.text_encoder->load({WeightStore((fs::path(dir) / "text_encoder").string()), be});
  m.transformer->load({WeightStore((fs::path(dir) / "transformer").string()), be});
  m.vae->load({WeightStore((fs::path(dir) / "vae").string()), be});
  return m;
}

void check_request(const ZImageModel& m, const ZImageRequest& r) {
  const int64_t k = m.size_multiple();
  if (r.width <= 0 || r.height <= 0 || r.width % k != 0 || r.height % k != 0)
    fail("size ", r.width, "x", r.height, ": a Z-Image side must be a positive multiple of ", k,
         " (the VAE's scale times the transformer's 2x2 patch)");
  if (r.steps < 1) fail("steps ", r.steps, ": expected at least 1");
  if (!(r.guidance >= 0.0)) fail("guidance ", r.guidance, ": expected 0 (off, Turbo's) or more");
}

ZImageRun zimage_txt2img(const ZImageModel& m, kernels::Backend& be, const ZImageRequest& r,
                         const sched::FlowMatchConfig* scheduler, bool keep_steps) {
  check_request(m, r);
  const bool cfg = r.guidance > 0.0;
  auto encode = [&](const std::string& p) { return m.text_encoder->forward(be, m.tokenizer->encode_prompt(p)); };
  const Tensor pos = encode(r.prompt);
  const Tensor neg = cfg ? encode(r.negative_prompt.value_or("")) : Tensor();

  // Latents as prepare_latents draws them: NCHW randn, here kept NHWC.
  const int64_t C = m.transformer->config().in_channels, vsf = m.vae->config().scale_factor();
  const int64_t h = 2 * (r.height / (vsf * 2)), w = 2 * (r.width / (vsf * 2));
  Tensor noise({1, C, h, w});
  rng::TorchGenerator gen(r.seed);
  gen.randn(noise.ptr(), noise.size());
  Tensor x = nchw_to_nhwc(noise);

  const auto sampler = sched::make_flow_euler(scheduler ? *scheduler : m.scheduler, r.steps, (h / 2) * (w / 2));
  ZImageRun run;
  const auto g = static_cast<float>(r.guidance);
  for (int i = 0; i < sampler->steps(); ++i) {
    const float t = (1000.0f - sampler->timestep(i)) / 1000.0f;
    Tensor pred = m.transformer->forward(be, x, pos, t);
    if (cfg) {
      const Tensor uncond = m.transformer->forward(be, x, neg, t);
      for (int64_t k = 0; k < pred.size(); ++k) pred.data[k] = pred.data[k] + g * (pred.data[k] - uncond.data[k]);
    }
    for (float& v : pred.data) v = -v;  // the pipeline negates the DiT's output
    sampler->step(i, pred.ptr(), x.ptr(), x.size(), [&](float* out, int64_t n) { gen.randn(out, n); });
    if (keep_steps) run.step_latents.push_back(x);
  }
  run.latents = x;
  run.image = m.vae->decode(be, m.vae->config().decoder_input(x));
  for (float& v : run.image.data) v = std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f);
  return run;
}

}  // namespace farm::pipeline
