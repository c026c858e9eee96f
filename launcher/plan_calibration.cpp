#include "launcher/plan_calibration.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include "farm/core/error.h"
#include "farm/pipeline/sd_model.h"
#include "farm/pipeline/zimage_pipeline.h"
#include "kernels/ops.h"

namespace farm::launcher {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// 1 warm-up, then the median of `repeats` timed runs.
template <class F>
double median_time(int repeats, F&& run) {
  run();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

Tensor random_tensor(Shape s, std::mt19937& rng) {
  Tensor t(std::move(s));
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (auto& x : t.data) x = n(rng);
  return t;
}

}  // namespace

Calibration calibrate_on_cpu(const std::string& model_dir, const partition::Workload& w, int repeats,
                             const std::function<void(const std::string&)>& progress) {
  FARM_ASSERT(repeats >= 1, "repeats ", repeats);
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  const auto t_load = std::chrono::steady_clock::now();
  const auto be = kernels::make_host_backend(kernels::cpu_ops());
  const pipeline::SdModel m = pipeline::SdModel::load(model_dir, *be);
  if (m.refiner) fail(model_dir, ": an SDXL refiner; calibrate on its base model");
  Calibration cal;
  cal.load_s = seconds_since(t_load);
  kernels::Backend& ops = *be;
  const auto& unet = *m.unet;
  const auto& uc = unet.config();
  const int64_t rows = w.rows();
  std::mt19937 rng(1234);

  // The state a micro-batch carries into block 0; each block is timed on a
  // copy of the state just before it, then the state advances through it.
  model::UNetState s;
  s.h = random_tensor({rows, w.latent_h, w.latent_w, uc.in_channels}, rng);
  s.timesteps = Tensor({rows}, std::vector<float>(static_cast<size_t>(rows), 500.0f));
  s.context = random_tensor({rows, w.text_len, uc.context_dim()}, rng);
  if (uc.text_time()) {  // SDXL: pooled text and the time ids of an image at this size
    s.text_embeds = random_tensor({rows, uc.text_embeds_dim()}, rng);
    const int64_t f = m.vae->config().scale_factor();
    s.time_ids = model::default_time_ids(m.unet->config(), rows, w.latent_h * f, w.latent_w * f);
  }
  const size_t n = unet.blocks().size();
  for (size_t i = 0; i < n; ++i) {
    const double t = median_time(repeats, [&] {
      model::UNetState copy = s;
      unet.run(ops, copy, i, i + 1);
    });
    cal.block_s.push_back(t);
    unet.run(ops, s, i, i + 1);
    say(cat(unet.blocks()[i].name, ": ", t * 1e3, " ms"));
  }

  const auto& tc = m.text_encoder->config();
  if (w.text_len > tc.max_positions)
    fail("text length ", w.text_len, " exceeds the text encoder's ", tc.max_positions, " positions");
  std::vector<int64_t> ids(static_cast<size_t>(rows * w.text_len));
  for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint32_t>(tc.vocab_size));
  cal.text_s = median_time(repeats, [&] { (void)m.text_encoder->forward(ops, ids, rows); });
  say(cat("text encoder: ", cal.text_s * 1e3, " ms"));

  const Tensor latents = random_tensor({w.items, w.latent_h, w.latent_w, m.vae->config().latent_channels}, rng);
  cal.vae_s = median_time(repeats, [&] { (void)m.vae->decode(ops, latents); });
  say(cat("VAE decoder: ", cal.vae_s * 1e3, " ms"));
  return cal;
}

Calibration calibrate_dit_on_cpu(const std::string& model_dir, const partition::Workload& w, int repeats,
                                 const std::function<void(const std::string&)>& progress) {
  FARM_ASSERT(repeats >= 1, "repeats ", repeats);
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  namespace fs = std::filesystem;
  const auto t_load = std::chrono::steady_clock::now();
  const auto be = kernels::make_host_backend(kernels::cpu_ops());
  pipeline::ZImageModel m = pipeline::ZImageModel::open(model_dir);
  bool weights = false;
  for (const auto& e : fs::directory_iterator(fs::path(model_dir) / "transformer"))
    weights = weights || e.path().extension() == ".safetensors";
  m.load_weights(*be, {.random_weights = !weights});
  if (!weights) say("no weight files: timing weights drawn from a seed");
  Calibration cal;
  cal.load_s = seconds_since(t_load);
  kernels::Backend& ops = *be;
  const auto& dit = *m.transformer;
  const auto& dc = dit.config();
  std::mt19937 rng(1234);

  std::vector<model::DitState> rows(static_cast<size_t>(w.rows()));
  for (auto& r : rows) {
    r.latents = random_tensor({1, w.latent_h, w.latent_w, dc.in_channels}, rng);
    r.caption = ops.to_backend(random_tensor({1, w.text_len, dc.cap_feat_dim}, rng));
    r.t = 0.5f;
  }
  for (size_t i = 0; i < dit.blocks().size(); ++i) {
    const double t = median_time(repeats, [&] {
      for (const auto& r : rows) {
        model::DitState copy = r;
        dit.run(ops, copy, i, i + 1);
      }
    });
    cal.block_s.push_back(t);
    for (auto& r : rows) dit.run(ops, r, i, i + 1);
    say(cat(dit.blocks()[i].name, ": ", t * 1e3, " ms"));
  }

  const auto& tc = m.text_encoder->config();
  std::vector<int64_t> ids(static_cast<size_t>(w.text_len));
  for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint32_t>(tc.vocab_size));
  cal.text_s = median_time(repeats, [&] {
    for (int64_t r = 0; r < w.rows(); ++r) (void)m.text_encoder->forward(ops, ids);
  });
  say(cat("text encoder: ", cal.text_s * 1e3, " ms"));

  const Tensor latents = random_tensor({w.items, w.latent_h, w.latent_w, m.vae->config().latent_channels}, rng);
  cal.vae_s = median_time(repeats, [&] { (void)m.vae->decode(ops, m.vae->config().decoder_input(latents)); });
  say(cat("VAE decoder: ", cal.vae_s * 1e3, " ms"));
  return cal;
}

}  // namespace farm::launcher
