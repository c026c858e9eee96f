#include "launcher/bench_command.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "farm/core/error.h"
#include "farm/pipeline/sd_model.h"
#include "launcher/backend.h"
#include "partition/cost_model.h"

namespace farm::launcher {
namespace {

struct BenchFlags {
  std::string model, backend = "cpu", dtype, json, batches = "1,2,8";
  int64_t size = 0;
  int repeats = 3;
  bool random_weights = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The resident set now and at its peak, in MB (Linux: /proc and getrusage).
double rss_mb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}
double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024 / 1e6;  // KiB
}

Tensor random_tensor(Shape s, std::mt19937& rng) {
  Tensor t(std::move(s));
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (auto& x : t.data) x = n(rng);
  return t;
}

// Timed runs of one thing: a warm-up, then `repeats` (min, median).
struct Timing {
  std::vector<double> runs;
  double min() const { return *std::min_element(runs.begin(), runs.end()); }
  double median() const {
    auto r = runs;
    std::sort(r.begin(), r.end());
    return r[r.size() / 2];
  }
};

template <class F>
Timing time_runs(int repeats, F&& run) {
  run();
  Timing t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    t.runs.push_back(seconds_since(t0));
  }
  return t;
}

std::vector<int64_t> parse_batches(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 1 || v > 64) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      fail("--batches '", s, "': expected UNet batch sizes 1 to 64 separated by commas, e.g. 1,2,8");
    }
  }
  if (out.empty()) fail("--batches '", s, "': no batch size");
  return out;
}

nlohmann::json timing_json(const Timing& t, double flops) {
  return {{"min_ms", t.min() * 1e3},
          {"peak_rss_mb", peak_rss_mb()},
          {"median_ms", t.median() * 1e3},
          {"runs_ms", [&] {
             std::vector<double> v;
             for (double r : t.runs) v.push_back(r * 1e3);
             return v;
           }()},
          {"gflops", flops / t.min() / 1e9}};
}

// Peak RSS is monotonic: printed after each part, it shows which part raised it.
void print_row(const std::string& what, const Timing& t, double flops) {
  std::printf("%-22s min %9.1f ms  median %9.1f ms  %7.1f GFLOP/s  peak RSS %.0f MB\n", what.c_str(), t.min() * 1e3,
              t.median() * 1e3, flops / t.min() / 1e9, peak_rss_mb());
}

using OpTimes = std::map<std::string, std::pair<double, int64_t>>;

// Each op's ms and calls per run of one part (FARM_PROFILE_OPS=1): the
// profile's growth over the part's runs (warm-up included) / their count.
nlohmann::json ops_per_run(const OpTimes& before, const OpTimes& after, int runs) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, t] : after) {
    const auto it = before.find(name);
    const double ms = t.first - (it == before.end() ? 0.0 : it->second.first);
    const int64_t calls = t.second - (it == before.end() ? 0 : it->second.second);
    if (calls > 0) j[name] = {{"ms", ms / runs}, {"calls", calls / runs}};
  }
  return j;
}

void print_ops(const std::string& part, const nlohmann::json& ops) {
  if (ops.empty()) return;
  std::vector<std::pair<double, std::string>> v;
  double total = 0;
  for (const auto& [name, t] : ops.items()) v.emplace_back(t.at("ms").get<double>(), name), total += v.back().first;
  std::sort(v.rbegin(), v.rend());
  std::printf("\nper op, %s, per run (FARM_PROFILE_OPS=1):\n", part.c_str());
  for (const auto& [ms, name] : v)
    std::printf("  %-22s %9.1f ms %5.1f %% %6lld calls\n", name.c_str(), ms, 100.0 * ms / total,
                static_cast<long long>(ops.at(name).at("calls").get<int64_t>()));
}

int run_bench(const BenchFlags& f) {
  const auto batches = parse_batches(f.batches);
  if (f.repeats < 1) fail("--repeats ", f.repeats, ": must be at least 1");
  check_backend(f.backend, f.dtype);
  const auto shape = partition::ModelShape::from_folder(f.model);
  const auto t_load = std::chrono::steady_clock::now();
  auto be = make_backend(f.backend, f.dtype, 0, 1, "localhost");
  pipeline::SdModel m = pipeline::SdModel::open(f.model);
  if (m.refiner) fail(f.model, ": an SDXL refiner; farm bench measures a base model (its own UNet passes and VAE ",
                      "are the base's shapes)");
  m.load_weights(*be, {.random_weights = f.random_weights});
  const double load_s = seconds_since(t_load), rss_after_load = rss_mb();
  kernels::Backend& ops = *be;

  const int64_t size = f.size > 0 ? f.size : m.native_size(), scale = m.vae->config().scale_factor();
  if (size % scale != 0 || size < scale || size > 4096)
    fail("--size ", size, ": must be a multiple of the VAE's scale factor ", scale, " up to 4096");
  partition::Workload w;
  w.latent_h = w.latent_w = size / scale;
  const auto& uc = m.unet->config();
  std::printf("farm bench: %s on %s, %s, %d threads, %lldx%lld (latent %lldx%lld)\n", m.name.c_str(),
              be->name().c_str(), dtype_name(be->dtype()), omp_get_max_threads(), static_cast<long long>(size),
              static_cast<long long>(size), static_cast<long long>(w.latent_h), static_cast<long long>(w.latent_w));
  std::printf("%-22s %.2f s, %.1f MB of weights, RSS %.0f MB\n", "load", load_s,
              static_cast<double>(be->weight_bytes()) / 1e6, rss_after_load);

  nlohmann::json out = {{"model", f.model},          {"backend", be->name()},
                        {"dtype", dtype_name(be->dtype())}, {"threads", omp_get_max_threads()},
                        {"size", size},              {"repeats", f.repeats},
                        {"load_s", load_s},          {"weight_mb", static_cast<double>(be->weight_bytes()) / 1e6},
                        {"rss_after_load_mb", rss_after_load}};
  std::mt19937 rng(1234);

  // Text encoder: one prompt pair (CFG), 77 random tokens each.
  {
    w.items = 1, w.guidance = true;
    const auto costs = partition::estimate_costs(shape, w, partition::device_profile("cpu"));
    const auto& tc = m.text_encoder->config();
    std::vector<int64_t> ids(static_cast<size_t>(2 * tc.max_positions));
    for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint32_t>(tc.vocab_size));
    const OpTimes before = be->op_times();
    const Timing t = time_runs(f.repeats, [&] {
      if (!m.sdxl()) return (void)m.text_encoder->forward(ops, ids, 2);
      (void)m.text_encoder->forward_sdxl(ops, ids, 2);
      (void)m.text_encoder_2->forward_sdxl(ops, ids, 2);
    });
    print_row("text encoder (2 rows)", t, costs.text_flops);
    out["text_encoder"] = timing_json(t, costs.text_flops);
    out["text_encoder"]["op_ms"] = ops_per_run(before, be->op_times(), f.repeats + 1);
  }

  // UNet steps: one full pass per run, timed block by block.
  const auto& blocks = m.unet->blocks();
  for (int64_t rows : batches) {
    w.items = rows, w.guidance = false;  // the cost model's rows = items here
    const auto costs = partition::estimate_costs(shape, w, partition::device_profile("cpu"));
    double flops = 0;
    for (const auto& b : costs.blocks) flops += b.flops;
    model::UNetState s0;
    s0.h = random_tensor({rows, w.latent_h, w.latent_w, uc.in_channels}, rng);
    s0.timesteps = Tensor({rows}, std::vector<float>(static_cast<size_t>(rows), 500.0f));
    s0.context = random_tensor({rows, 77, uc.context_dim()}, rng);
    if (uc.text_time()) {  // SDXL: pooled text and the time ids of an image at this size
      s0.text_embeds = random_tensor({rows, uc.text_embeds_dim()}, rng);
      const int64_t f = m.vae->config().scale_factor();
      s0.time_ids = model::default_time_ids(m.unet->config(), rows, w.latent_h * f, w.latent_w * f);
    }
    std::vector<std::vector<double>> block_s(blocks.size());
    const OpTimes before = be->op_times();
    const Timing t = time_runs(f.repeats, [&] {
      model::UNetState s = s0;
      for (size_t i = 0; i < blocks.size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        m.unet->run(ops, s, i, i + 1);
        block_s[i].push_back(seconds_since(t0));
      }
      (void)ops.to_host(s.h);
    });
    print_row(cat("UNet step (batch ", rows, ")"), t, flops);
    nlohmann::json j = timing_json(t, flops);
    j["batch"] = rows;
    j["op_ms"] = ops_per_run(before, be->op_times(), f.repeats + 1);
    for (size_t i = 0; i < blocks.size(); ++i) {
      Timing b;
      b.runs.assign(block_s[i].begin() + 1, block_s[i].end());  // without the warm-up
      j["blocks"].push_back({{"name", blocks[i].name}, {"min_ms", b.min() * 1e3}, {"median_ms", b.median() * 1e3},
                             {"gflops", costs.blocks[i].flops / b.min() / 1e9}});
    }
    out["unet"].push_back(j);
  }

  // VAE decode of one image.
  {
    w.items = 1;
    const auto costs = partition::estimate_costs(shape, w, partition::device_profile("cpu"));
    const Tensor latents = random_tensor({1, w.latent_h, w.latent_w, m.vae->config().latent_channels}, rng);
    const OpTimes before = be->op_times();
    const Timing t = time_runs(f.repeats, [&] { (void)ops.to_host(m.vae->decode(ops, latents)); });
    print_row("VAE decode (1 image)", t, costs.vae_flops);
    out["vae_decode"] = timing_json(t, costs.vae_flops);
    out["vae_decode"]["op_ms"] = ops_per_run(before, be->op_times(), f.repeats + 1);
  }

  if (!out["unet"].empty()) {
    std::printf("\nper block, UNet batch %lld (min of %d):\n", static_cast<long long>(batches.front()), f.repeats);
    for (const auto& b : out["unet"][0]["blocks"])
      std::printf("  %-40s %9.2f ms %7.1f GFLOP/s\n", b["name"].get<std::string>().c_str(), b["min_ms"].get<double>(),
                  b["gflops"].get<double>());
  }
  print_ops("text encoder", out["text_encoder"]["op_ms"]);
  for (const auto& u : out["unet"]) print_ops(cat("UNet step batch ", u["batch"].get<int64_t>()), u["op_ms"]);
  print_ops("VAE decode", out["vae_decode"]["op_ms"]);
  out["peak_rss_mb"] = peak_rss_mb();
  std::printf("\n%-22s %.0f MB\n", "peak RSS", peak_rss_mb());
  if (!f.json.empty()) {
    std::ofstream j(f.json);
    if (!(j << out.dump(2) << "\n")) fail("--json ", f.json, ": cannot write");
  }
  return 0;
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand("bench", "time a model's text encoder, UNet step and VAE decode on this machine");
  cmd->add_option("--model", f->model, "a diffusers folder (config-only with --random-weights)")->required();
  cmd->add_option("--backend", f->backend, "cpu (default), ref, cuda, cuda-emu");
  cmd->add_option("--dtype", f->dtype, "as farm render's: cpu f32 (default) or bf16; cuda f16 (default) or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--size", f->size, "image width and height (default: the model's native size)");
  cmd->add_option("--batches", f->batches, "UNet batch sizes to time, comma-separated (default 1,2,8)");
  cmd->add_option("--repeats", f->repeats, "timed runs of each part after one warm-up (default 3)");
  cmd->add_option("--json", f->json, "write every figure (and each run's time) to this file");
  cmd->add_flag("--random-weights", f->random_weights, "draw the weights from a seed (config-only folders)");
  return [f] { return run_bench(*f); };
}

}  // namespace farm::launcher
