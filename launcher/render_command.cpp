#include "launcher/render_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "farm/coord/atomic_file.h"
#include "farm/coord/image_metadata.h"
#include "farm/coord/job.h"
#include "farm/coord/png.h"
#include "farm/core/error.h"
#include "farm/pipeline/txt2img.h"
#include "farm/sched/sampler.h"
#ifdef FARM_CUDA_BACKEND
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_ops.h"
#endif

namespace farm::launcher {

namespace fs = std::filesystem;

namespace {

struct RenderFlags {
  std::string model, prompts, out, config, backend = "cpu";
  std::string negative_prompt, sampler;
  int64_t seed = -1;
  int steps = 0, width = 0, height = 0, clip_skip = 0, batch = 1;
  float guidance = 0;
  bool overwrite = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

pipeline::Txt2ImgRequest to_request(const JobItem& it) {
  pipeline::Txt2ImgRequest r;
  r.prompt = it.prompt;
  r.negative_prompt = it.negative_prompt;
  r.seed = static_cast<uint64_t>(it.seed);
  r.steps = it.steps;
  r.guidance = it.guidance;
  r.width = it.width;
  r.height = it.height;
  r.sampler = it.sampler;
  r.clip_skip = it.clip_skip;
  return r;
}

bool compatible(const JobItem& a, const JobItem& b) {
  return a.width == b.width && a.height == b.height && a.steps == b.steps && a.sampler == b.sampler &&
         a.clip_skip == b.clip_skip;
}

const kernels::Ops* select_backend(const std::string& name) {
  if (name == "cpu") return &kernels::cpu_ops();
  if (name == "ref") return &kernels::ref_ops();
  if (name == "cuda" || name == "cuda-bf16") {
#ifdef FARM_CUDA_BACKEND
    int devices = 0;
    if (const cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess || devices == 0)
      fail("--backend ", name, ": no CUDA device found (cudaGetDeviceCount: ",
           e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", ")");
    return &kernels::cuda_ops(name == "cuda" ? kernels::cuda::DType::f16 : kernels::cuda::DType::bf16);
#else
    fail("--backend ", name, ": this build has no CUDA backend (configured with FARM_CUDA=OFF)");
#endif
  }
  fail("--backend '", name, "' is unknown (cpu, ref, cuda, cuda-bf16)");
}

int run_render(const RenderFlags& f, CLI::App* cmd) {
  const auto t_start = std::chrono::steady_clock::now();
  // 1. The job, validated whole before anything heavy happens.
  JobDefaults d;
  if (!f.config.empty()) d = load_job_config(f.config, d);
  auto given = [&](const char* name) { return cmd->count(name) > 0; };
  if (given("--negative-prompt")) d.negative_prompt = f.negative_prompt;
  if (given("--seed")) d.seed = f.seed;
  if (given("--steps")) d.steps = f.steps;
  if (given("--guidance")) d.guidance = f.guidance;
  if (given("--width")) d.width = f.width;
  if (given("--height")) d.height = f.height;
  if (given("--sampler")) d.sampler = f.sampler;
  if (given("--clip-skip")) d.clip_skip = f.clip_skip;
  if (d.steps < 1) fail("--steps ", d.steps, ": must be at least 1");
  if (d.width <= 0 || d.height <= 0 || d.width % 8 || d.height % 8)
    fail("--width/--height ", d.width, "x", d.height, ": must be positive multiples of 8");
  if (!sched::is_known_sampler(d.sampler)) fail("--sampler '", d.sampler, "' is unknown");
  if (f.batch < 1) fail("--batch ", f.batch, ": must be at least 1");
  const std::vector<JobItem> items = load_prompts(f.prompts, d, sched::is_known_sampler);

  const kernels::Ops* ops = select_backend(f.backend);

  // 2. The model: configs, then weights.
  const auto t_load = std::chrono::steady_clock::now();
  const pipeline::SdModel model = pipeline::SdModel::load(f.model);
  for (const auto& it : items) {
    try {
      pipeline::check_request(model, to_request(it));
    } catch (const Error& e) {
      fail(it.source, ":", it.line, ": ", e.what());
    }
  }
  std::fprintf(stderr, "farm: loaded %s (%.1f MB of weights) in %.2f s; %zu prompts\n", model.name.c_str(),
               static_cast<double>(model.weight_bytes) / 1e6, seconds_since(t_load), items.size());

  // 3. The output folder; an existing image is kept unless --overwrite.
  std::error_code ec;
  fs::create_directories(f.out, ec);
  if (!fs::is_directory(f.out)) fail(f.out, ": cannot create the output folder", ec ? ": " + ec.message() : "");

  // 4. Micro-batches of consecutive compatible items.
  size_t done = 0, skipped = 0;
  pipeline::StageTimes total;
  const bool tty = ::isatty(::fileno(stderr));
  const auto t_render = std::chrono::steady_clock::now();
  for (size_t i = 0; i < items.size();) {
    std::vector<const JobItem*> mb;
    const size_t first = i;
    for (size_t j = first;
         j < items.size() && mb.size() < static_cast<size_t>(f.batch) && compatible(items[first], items[j]); ++j) {
      const fs::path dst = fs::path(f.out) / image_file_name(items[j]);
      if (!f.overwrite && fs::exists(dst)) ++skipped;
      else mb.push_back(&items[j]);
      i = j + 1;
    }
    if (mb.empty()) continue;
    std::vector<pipeline::Txt2ImgRequest> reqs;
    for (const JobItem* it : mb) reqs.push_back(to_request(*it));
    pipeline::StageTimes times;
    const auto images = pipeline::txt2img(
        model, *ops, reqs,
        [&](int s, int n, const Tensor&) {
          // A live step counter on a terminal; logs get the per-batch summary line only.
          if (tty)
            std::fprintf(stderr, "\r  batch of %zu: step %d/%d, UNet %.2f s/step", mb.size(), s, n,
                         times.unet / times.unet_steps);
        },
        &times);
    total.text_encode += times.text_encode;
    total.unet += times.unet;
    total.unet_steps += times.unet_steps;
    total.vae_decode += times.vae_decode;
    std::fprintf(stderr, "%s  text encoder %.2f s, UNet %.2f s/step, VAE decode %.2f s\n", tty ? "\n" : "",
                 times.text_encode,
                 times.unet / times.unet_steps, times.vae_decode);
    for (size_t k = 0; k < mb.size(); ++k) {
      const JobItem& it = *mb[k];
      const std::string display = sched::sampler_display_name(it.sampler);
      const PngText text = {{"parameters", a1111_parameters(it, model.name, display)},
                            {"farm", item_json(it, nlohmann::json{{"model", model.name}, {"sampler_name", display}})}};
      const auto png = encode_png(images[k].width, images[k].height, images[k].rgb.data(), text);
      const fs::path dst = fs::path(f.out) / image_file_name(it);
      write_file_atomic(dst.string(), png);
      ++done;
      std::fprintf(stderr, "[%zu/%zu] %s  %s\n", done + skipped, items.size(), dst.string().c_str(),
                   it.prompt.substr(0, 60).c_str());
    }
  }
  const double secs = seconds_since(t_render);
  std::fprintf(stderr, "farm: %zu images in %.1f s (%.2f s/image)%s; total %.1f s\n", done, secs,
               done ? secs / static_cast<double>(done) : 0.0,
               skipped ? cat(", ", skipped, " already present").c_str() : "", seconds_since(t_start));
  if (total.unet_steps)
    std::fprintf(stderr, "farm: text encoder %.2f s, UNet %.2f s/step over %d steps, VAE decode %.2f s\n",
                 total.text_encode, total.unet / total.unet_steps, total.unet_steps, total.vae_decode);
  return 0;
}

}  // namespace

std::function<int()> add_render_command(CLI::App& app) {
  auto f = std::make_shared<RenderFlags>();
  CLI::App* cmd = app.add_subcommand("render", "Render a prompt file to PNG images");
  cmd->add_option("--model", f->model, "diffusers model folder (model_index.json, unet/, ...)")->required();
  cmd->add_option("--prompts", f->prompts, "prompt file: .txt (one per line) or .jsonl")->required();
  cmd->add_option("--out", f->out, "output folder for NNNNN-SEED.png files")->required();
  cmd->add_option("--config", f->config, "job defaults (TOML); flags override it, prompt lines override both");
  cmd->add_option("--negative-prompt", f->negative_prompt, "default negative prompt");
  cmd->add_option("--seed", f->seed, "default seed (-1: random per item, recorded)");
  cmd->add_option("--steps", f->steps, "default sampling steps (20)");
  cmd->add_option("--guidance", f->guidance, "default CFG scale (7.5; <= 1 disables guidance)");
  cmd->add_option("--width", f->width, "default width (512, a multiple of 8)");
  cmd->add_option("--height", f->height, "default height (512, a multiple of 8)");
  cmd->add_option("--sampler", f->sampler,
                  "default sampler: ddim, euler, euler_karras, euler_a, euler_a_karras, dpmpp_2m, dpmpp_2m_karras");
  cmd->add_option("--clip-skip", f->clip_skip, "default clip skip (1: last layer, 2: penultimate)");
  cmd->add_option("--batch", f->batch, "micro-batch size (images do not depend on it)");
  cmd->add_option("--backend", f->backend,
                  "kernels: cpu (default), ref (plain loops, slow), cuda / cuda-bf16 (GPU; each op staged "
                  "through the device, see kernels/cuda/cuda_ops.h)");
  cmd->add_flag("--overwrite", f->overwrite, "re-render images already present in --out");
  return [f, cmd] { return run_render(*f, cmd); };
}

}  // namespace farm::launcher
