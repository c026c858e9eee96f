#include "launcher/plan_command.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "farm/core/error.h"
#include "launcher/backend.h"
#include "launcher/plan_calibration.h"
#include "partition/block_costs.h"
#include "partition/partitioner.h"
#include "partition/refiner_plan.h"

namespace farm::launcher {

namespace {

using partition::ModelCosts;
using partition::Plan;

struct PlanFlags {
  std::string model, device = "cpu", size, json;  // size empty: the model's native size
  int ranks = 0, batch = 1, steps = -1, stages = 0, pipelines = 0, window = 0;  // steps -1: the family's default
  double guidance = -1, memory_cap_gb = 0;  // guidance < 0: the family's default
  int caption_tokens = 128;  // a DiT's templated caption length (a CLIP UNet reads 77, fixed)
  bool calibrate = false;
  std::string refiner;  // an SDXL refiner's folder: place both models in one ring
  int refiner_stages = -1;  // -1: show every R; else R (0: shared)
  double refiner_switch = 0.8;
};

double mb(double bytes) { return bytes / 1e6; }

std::pair<int64_t, int64_t> parse_size(const std::string& s, int64_t multiple) {
  const auto x = s.find('x');
  size_t used_w = 0, used_h = 0;
  int64_t w = 0, h = 0;
  try {
    if (x == std::string::npos) throw std::invalid_argument("no x");
    w = std::stoll(s.substr(0, x), &used_w);
    h = std::stoll(s.substr(x + 1), &used_h);
  } catch (const std::exception&) {
    fail("--size '", s, "': expected WIDTHxHEIGHT, e.g. 512x512");
  }
  if (used_w != x || used_h != s.size() - x - 1) fail("--size '", s, "': expected WIDTHxHEIGHT, e.g. 512x512");
  if (w <= 0 || h <= 0 || w % multiple != 0 || h % multiple != 0)
    fail("--size '", s, "': width and height must be positive multiples of ", multiple,
         " (the VAE's scale factor)");
  return {w, h};
}

std::string shape_of(const partition::SkipTensor& t) { return cat("[", t.rows, ",", t.h, ",", t.w, ",", t.c, "]"); }

std::string range_of(const ModelCosts& c, const partition::StagePlan& s) {
  return c.blocks[s.begin].name + (s.end - s.begin > 1 ? " .. " + c.blocks[s.end - 1].name : "");
}

void print_header(const PlanFlags& f, const partition::ModelShape& m, const ModelCosts& c) {
  const auto& d = c.device;
  const auto& w = c.workload;
  int64_t unet = 0;
  double step_flops = 0;
  for (const auto& b : c.blocks) {
    unet += b.params;
    step_flops += b.flops;
  }
  const char* denoiser = m.dit ? "DiT" : "UNet";
  std::printf("model    %s: %zu %s blocks, %.1f M %s / %.1f M text encoder / %.1f M VAE decoder parameters\n",
              f.model.c_str(), c.blocks.size(), denoiser, unet / 1e6, denoiser, c.text_params / 1e6,
              c.vae_params / 1e6);
  const bool tera = d.flops >= 1e12;
  std::printf("device   %s: %.1f %s per rank, %.0f GB, link %.0f GB/s + %.0f us, %d-byte elements, %s\n",
              d.name.c_str(), d.flops / (tera ? 1e12 : 1e9), tera ? "TFLOP/s" : "GFLOP/s", d.memory_bytes / 1e9, d.link_bytes_per_s / 1e9,
              d.link_latency_s * 1e6, d.element_bytes,
              d.overlap_transfers ? "sends overlap compute" : "sends are CPU copies (no overlap)");
  std::printf("workload %s (latent %lldx%lld), %lld image(s) per micro-batch, %s (%lld %s rows), %d steps%s\n",
              f.size.c_str(), static_cast<long long>(w.latent_w), static_cast<long long>(w.latent_h),
              static_cast<long long>(w.items), w.guidance ? "CFG" : "no CFG", static_cast<long long>(w.rows()),
              denoiser, w.steps, m.dit ? cat(", captions of ", w.text_len, " tokens").c_str() : "");
  std::printf("         per micro-batch: %s %.4g GFLOP/step, text encoder %.4g GFLOP, VAE decode %.4g GFLOP\n",
              denoiser, step_flops / 1e9, c.text_flops / 1e9, c.vae_flops / 1e9);
  // Every part's block list, as the ring runs it (model/block_list.h).
  const auto kinds = [](const std::vector<partition::BlockCost>& blocks) {
    std::vector<std::pair<std::string, int>> counts;
    for (const auto& b : blocks) {
      if (counts.empty() || counts.back().first != b.kind_name) counts.emplace_back(b.kind_name, 0);
      ++counts.back().second;
    }
    std::string text;
    for (const auto& [k, n] : counts) text += cat(text.empty() ? "" : ", ", n > 1 ? cat(n, " x ") : "", k);
    return text.size() > 64 ? text.substr(0, 61) + "..." : text;
  };
  const auto part_line = [&](const char* part, const std::vector<partition::BlockCost>& blocks,
                             const std::vector<bool>* runs, const char* per) {
    int64_t params = 0;
    double flops = 0;
    size_t ran = 0;
    for (size_t i = 0; i < blocks.size(); ++i) {
      params += blocks[i].params;
      if (!runs || (*runs)[i]) flops += blocks[i].flops, ++ran;
    }
    const std::string count = cat(blocks.size(), " blocks", ran < blocks.size() ? cat(" (runs ", ran, ")") : "");
    std::printf("%-8s %-15s %-20s %9.1f M params, %10.4g GFLOP %s: %s\n", "", part, count.c_str(), params / 1e6,
                flops / 1e9, per, kinds(blocks).c_str());
  };
  std::printf("parts    (every part is a block list: the text encoder(s) on stage 0, the %s cut into stages, the VAE "
              "on the last)\n", denoiser);
  for (const auto& p : c.parts)
    if (p.part != model::ModelPart::vae) part_line(model::part_name(p.part), p.blocks, &p.runs, "per micro-batch");
  part_line(m.dit ? "transformer" : "unet", c.blocks, nullptr, "per step      ");
  for (const auto& p : c.parts)
    if (p.part == model::ModelPart::vae) part_line("vae", p.blocks, nullptr, "per micro-batch");
  std::printf("costs    %s\n", c.calibrated ? "calibrated: block, text and VAE times measured on this CPU"
                                            : "estimated: FLOPs / device FLOP/s (use --calibrate to measure)");
}

void print_plan(const ModelCosts& c, const Plan& p) {
  std::printf("\nchosen   %d pipeline(s) x %d stage(s) = %d rank(s), window %d micro-batches per pipeline\n",
              p.pipelines, p.stages, p.pipelines * p.stages, p.window);
  std::printf("         predicted %.3f images/s, %.3f ms per micro-batch step (slowest stage), bubble %.1f%%\n\n",
              p.images_per_s, p.step_s * 1e3, p.bubble * 100);
  std::printf("%-5s %-58s %3s %10s %9s %8s %9s %8s %10s %8s %6s\n", "stage", "blocks", "n", "GFLOP/step",
              "weight MB", "act MB", "memory MB", "send MB", "compute ms", "send ms", "busy%");
  for (size_t s = 0; s < p.stage.size(); ++s) {
    const auto& st = p.stage[s];
    double flops = 0;
    for (size_t i = st.begin; i < st.end; ++i) flops += c.blocks[i].flops;
    std::string blocks = range_of(c, st);
    if (st.text_encoder) blocks = "text + " + blocks;
    if (st.vae) blocks += " + VAE";
    std::printf("%-5zu %-58s %3zu %10.1f %9.1f %8.1f %9.1f %8.3f %10.3f %8.3f %6.1f\n", s, blocks.c_str(),
                st.end - st.begin, flops / 1e9, mb(st.weight_bytes), mb(st.activation_bytes), mb(st.memory_bytes),
                mb(st.send_bytes), st.compute_s * 1e3, st.send_s * 1e3, st.busy * 100);
  }
}

int stage_of(const Plan& p, size_t block) {
  for (size_t s = 0; s < p.stage.size(); ++s)
    if (block < p.stage[s].end) return static_cast<int>(s);
  return static_cast<int>(p.stage.size()) - 1;
}

// What each stage sends per micro-batch step: the ring before the direct
// sends (hidden + every skip + context relayed across each cut, every step,
// all to the next stage) beside the ring now (stage_traffic.h: the hidden
// state to the next stage, each skip straight to the stage that pops it),
// tensor by tensor, for the same cuts.
void print_cuts(const ModelCosts& c, const Plan& p, bool dit) {
  const auto& w = c.workload;
  const size_t n = c.blocks.size();
  const int S = p.stages;
  double relayed = 0, direct = 0, once = 0;
  for (int s = 0; s < S; ++s) {
    const auto& st = p.stage[static_cast<size_t>(s)];
    const size_t i = st.end;
    const bool ret = i == n;
    std::string to;
    for (const auto& f : st.send_to)
      if (f.bytes > 0) to += cat(to.empty() ? "" : ", ", f.stage);
    std::printf("  cut %d -> %d, %s: relayed (old) %.3f MB to stage %d; direct (now) %.3f MB to stage(s) %s; "
                "per step (%.0f -> %.0f bytes)\n",
                s, (s + 1) % S, ret ? "return (next step's model input)" : ("before " + c.blocks[i].name).c_str(),
                mb(c.relayed_cut_bytes[i]), (s + 1) % S, mb(st.send_bytes), to.c_str(), c.relayed_cut_bytes[i],
                st.send_bytes);
    relayed += c.relayed_cut_bytes[i];
    direct += st.send_bytes;
    once += st.send_bytes_once;
    const auto& h = c.cut_hidden[i];
    // The hidden message also carries the timesteps (fp32) and, once the time embedding has run, temb.
    const double extra = c.hidden_msg_bytes[i] - h.bytes;
    const bool temb = extra > static_cast<double>(w.rows()) * 4;
    // A DiT's state: the adaLN input with the sequence (counted in), and the token grid.
    const std::string after = dit ? "state after " + c.blocks[i - 1].name : "hidden (" + c.blocks[i - 1].name + ")";
    std::printf("      %-40s %-18s %9.3f MB  -> stage %d, + %s %.3f MB\n",
                ret ? "latent (fp32, from the sampler)" : after.c_str(), shape_of(h).c_str(), mb(h.bytes), (s + 1) % S,
                dit ? (ret ? "nothing" : "token grid") : temb ? "timesteps, temb" : "timesteps", mb(extra));
    for (const auto& k : c.skips)
      if (k.pushed_by >= st.begin && k.pushed_by < i && k.popped_by >= i)
        std::printf("      skip %-35s %-18s %9.3f MB  -> stage %d (popped by %s)\n", c.blocks[k.pushed_by].name.c_str(),
                    shape_of(k).c_str(), mb(k.bytes), stage_of(p, k.popped_by), c.blocks[k.popped_by].name.c_str());
    const long long ctx_dim = std::llround(c.context_bytes / (w.rows() * w.text_len * c.device.element_bytes));
    const std::string ctx_shape = cat("[", w.rows(), ",", w.text_len, ",", ctx_dim, "]");
    for (const auto& f : st.send_to)
      if (f.bytes_once > 0)
        std::printf("      %-40s %-18s %9.3f MB  -> stage %d, once per micro-batch\n", "context", ctx_shape.c_str(),
                    mb(f.bytes_once), f.stage);
  }
  std::printf("  all stages per micro-batch step: relayed (old) %.3f MB, direct (now) %.3f MB (%+.1f%%; %.0f -> %.0f bytes)\n",
              mb(relayed), mb(direct), 100 * (direct / relayed - 1), relayed, direct);
  std::printf("  + context once per micro-batch: %.3f MB (%.0f bytes; %.3f MB per step over %d steps)\n", mb(once),
              once, mb(once / w.steps), w.steps);
}

// Both models in one ring (partition/refiner_plan.h): every R of the chosen
// P x S side by side, then the chosen R's stages.
void print_refiner(const PlanFlags& f, const ModelCosts& base, const partition::Workload& w, const Plan& chosen) {
  const partition::ModelShape rs = partition::ModelShape::from_folder(f.refiner);
  if (!rs.refiner) fail("--refiner ", f.refiner, ": not an SDXL refiner (model_index.json requires_aesthetics_score)");
  if (!(f.refiner_switch > 0 && f.refiner_switch < 1))
    fail("--refiner-switch ", f.refiner_switch, ": expected a fraction strictly between 0 and 1");
  const ModelCosts rc = partition::estimate_costs(rs, w, base.device);
  const int P = chosen.pipelines, S = chosen.stages;
  const int bs = static_cast<int>(std::lround(f.refiner_switch * w.steps)), ref_steps = w.steps - bs;
  partition::PlanOptions o;
  o.memory_cap_bytes = f.memory_cap_gb * 1e9;
  o.window = f.window;
  int64_t params = 0;
  for (const auto& b : rc.blocks) params += b.params;
  std::printf("\nrefiner  %s: %zu UNet blocks, %.1f M UNet / %.1f M text encoder parameters; switch %.2f: %d base + %d "
              "refiner steps\n", f.refiner.c_str(), rc.blocks.size(), params / 1e6, rc.text_params / 1e6,
              f.refiner_switch, bs, ref_steps);
  std::printf("  %-28s %10s %22s %16s\n", "placement (R refiner stages)", "images/s", "slowest stage s/batch",
              "fullest rank MB");
  int best = 0;
  double best_ips = -1;
  std::vector<partition::RefinerPlan> all;
  for (int R = 0; R < S; ++R) {
    all.push_back(partition::place_with_refiner(base, rc, P, S, R, bs, ref_steps, o));
    const auto& r = all.back();
    const double slowest = *std::max_element(r.stage_s.begin(), r.stage_s.end());
    const double fullest = *std::max_element(r.stage_memory_bytes.begin(), r.stage_memory_bytes.end());
    std::printf("  %-28s %10.3f %22.3f %16.1f\n", R == 0 ? "R = 0 (shared)" : cat("R = ", R, " (apart)").c_str(),
                r.images_per_s, slowest, mb(fullest));
    if (r.images_per_s > best_ips) best_ips = r.images_per_s, best = R;
  }
  const int R = f.refiner_stages >= 0 ? f.refiner_stages : best;
  if (R >= S) fail("--refiner-stages ", R, ": expected 0 to ", S - 1, " of the ", S, " stages");
  const auto& r = all[static_cast<size_t>(R)];
  std::printf("  %s R = %d (--refiner-stages %d):\n", f.refiner_stages >= 0 ? "given" : "best", R, R);
  const auto range = [](const std::vector<partition::BlockCost>& b, std::pair<size_t, size_t> x) {
    return x.first == x.second ? std::string("-")
                               : cat(x.first, "-", x.second - 1, " (", b[x.first].name, " .. ", b[x.second - 1].name, ")");
  };
  for (int s = 0; s < S; ++s)
    std::printf("  stage %d: base %s, refiner %s; %.1f MB, %.3f s per micro-batch\n", s,
                range(base.blocks, r.base_ranges[s]).c_str(), range(rc.blocks, r.refiner_ranges[s]).c_str(),
                mb(r.stage_memory_bytes[s]), r.stage_s[s]);
}

void print_layouts(const std::vector<Plan>& plans, const Plan& chosen) {
  std::printf("\nlayouts  (all pipelines x stages of the ranks that fit; best first)\n");
  std::printf("  %-9s %10s %12s %9s %16s\n", "P x S", "images/s", "step ms", "bubble%", "fullest rank MB");
  for (const auto& p : plans) {
    double fullest = 0;
    for (const auto& s : p.stage) fullest = std::max(fullest, s.memory_bytes);
    const bool is_chosen = p.pipelines == chosen.pipelines && p.stages == chosen.stages;
    std::printf("  %-9s %10.3f %12.3f %9.1f %16.1f%s\n", cat(p.pipelines, " x ", p.stages).c_str(), p.images_per_s,
                p.step_s * 1e3, p.bubble * 100, mb(fullest), is_chosen ? "  <- chosen" : "");
  }
}

int run_plan(PlanFlags f) {  // a copy: an empty --size is filled in
  const auto& device = partition::device_profile(f.device);
  if (f.ranks < 1) fail("--ranks ", f.ranks, ": expected at least 1");
  if (f.batch < 1) fail("--batch ", f.batch, ": expected at least 1");
  if (f.steps != -1 && f.steps < 1) fail("--steps ", f.steps, ": expected at least 1");
  if (f.memory_cap_gb < 0) fail("--memory-cap ", f.memory_cap_gb, ": expected a positive number of GB");
  if (f.window < 0) fail("--window ", f.window, ": expected at least 1 (0: stages + 1)");
  if (f.stages < 0 || f.pipelines < 0) fail("--stages and --pipelines must be positive");
  if (f.stages > 0 && f.ranks % f.stages != 0) fail("--stages ", f.stages, " does not divide --ranks ", f.ranks);
  if (f.pipelines > 0 && f.ranks % f.pipelines != 0)
    fail("--pipelines ", f.pipelines, " does not divide --ranks ", f.ranks);
  if (f.stages > 0 && f.pipelines > 0 && f.stages * f.pipelines != f.ranks)
    fail("--pipelines ", f.pipelines, " x --stages ", f.stages, " is not --ranks ", f.ranks);
  if (f.calibrate && f.device != "cpu")
    fail("--calibrate times the blocks on this machine's CPU backend; use it with --device cpu");

  const partition::ModelShape m = partition::ModelShape::from_folder(f.model);
  if (f.size.empty()) f.size = cat(m.native_size(), "x", m.native_size());
  // Z-Image's sides are multiples of its VAE's scale times the DiT's 2x2 patch.
  const auto [width, height] = parse_size(f.size, m.vae.scale_factor() * (m.dit ? m.dit->patch : 1));
  if (m.dit && !f.refiner.empty()) fail("--refiner: an SDXL refiner continues an SDXL base, not a Z-Image model");
  // Family defaults: SD 20 steps at CFG 7.5 (on above 1); Z-Image-Turbo 8 steps at guidance 0 (on above 0).
  if (f.steps == -1) f.steps = m.dit ? 8 : 20;
  if (f.guidance < 0) f.guidance = m.dit ? 0.0 : 7.5;

  partition::Workload w;
  w.latent_h = height / m.vae.scale_factor();
  w.latent_w = width / m.vae.scale_factor();
  w.items = f.batch;
  w.guidance = m.dit ? f.guidance > 0 : f.guidance > 1;
  w.steps = f.steps;
  if (f.caption_tokens < 1 || f.caption_tokens > 512)
    fail("--caption-tokens ", f.caption_tokens, ": expected 1 to 512 (Qwen3's prompts are cut at 512)");
  w.text_len = m.dit ? f.caption_tokens : m.text.max_positions;  // CLIP's fixed 77
  ModelCosts c = partition::estimate_costs(m, w, device);
  const int S = f.stages > 0 ? f.stages : f.pipelines > 0 ? f.ranks / f.pipelines : 0;
  if (S > static_cast<int>(c.blocks.size()))
    fail("--stages ", S, ": the model has only ", c.blocks.size(), " blocks (one stage needs at least one)");
  if (f.calibrate) {
    const int threads = share_cores_among_ranks(f.ranks);
    std::fprintf(stderr,
                 "farm plan: calibrating on the cpu backend with %d thread%s, as each of %d ranks on this node would "
                 "use (1 warm-up + median of 3 per part)...\n",
                 threads, threads == 1 ? "" : "s", f.ranks);
    const auto say = [](const std::string& s) { std::fprintf(stderr, "  %s\n", s.c_str()); };
    const Calibration cal = m.dit ? calibrate_dit_on_cpu(f.model, w, 3, say) : calibrate_on_cpu(f.model, w, 3, say);
    c.calibrate(cal.block_s, cal.text_s, cal.vae_s);
  }

  partition::PlanOptions o;
  o.memory_cap_bytes = f.memory_cap_gb * 1e9;
  o.window = f.window;
  const std::vector<Plan> plans = partition::plans_for_ranks(c, f.ranks, o);
  Plan chosen = S > 0 ? partition::partition(c, f.ranks / S, S, o) : plans.front();
  chosen.model = f.model;

  print_header(f, m, c);
  print_plan(c, chosen);
  if (chosen.stages > 1) {
    std::printf("\ntensor bytes each stage sends per micro-batch step (payload, headers not counted)\n");
    print_cuts(c, chosen, m.dit.has_value());
  } else {
    // One stage sends nothing; show what a pipeline of this model would send.
    const Plan* ring = nullptr;
    for (const auto& p : plans)
      if (p.stages > 1 && !ring) ring = &p;
    if (ring) {
      std::printf("\n1 stage sends nothing; the best pipelined layout (%d x %d) would send per micro-batch step:\n",
                  ring->pipelines, ring->stages);
      print_cuts(c, *ring, m.dit.has_value());
    }
  }
  print_layouts(plans, chosen);
  if (!f.refiner.empty()) print_refiner(f, c, w, chosen);

  if (!f.json.empty()) {
    std::ofstream out(f.json);
    if (!out) fail("--json ", f.json, ": cannot open for writing");
    out << chosen.to_json().dump(2) << "\n";
    if (!out) fail("--json ", f.json, ": write failed");
    std::printf("\nplan written to %s\n", f.json.c_str());
  }
  return 0;
}

}  // namespace

std::function<int()> add_plan_command(CLI::App& app) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand("plan", "Choose pipelines x stages and block ranges for a model on N ranks");
  cmd->add_option("--model", f->model, "model folder (configs are enough, e.g. configs/sd15)")->required();
  cmd->add_option("--ranks", f->ranks, "number of ranks (GPUs or CPU ranks)")->required();
  cmd->add_option("--device", f->device, "device profile: cpu (default), a100, h100");
  cmd->add_option("--size", f->size, "image size WIDTHxHEIGHT (default: the model's native size, e.g. 512x512 for SD 1.5)");
  cmd->add_option("--batch", f->batch, "images per micro-batch (1)");
  cmd->add_option("--steps", f->steps, "denoising steps (20; Z-Image: 8)");
  cmd->add_option("--guidance", f->guidance,
                  "CFG scale (7.5; <= 1: no CFG, half the UNet rows). Z-Image: diffusers' guidance (0: no CFG, "
                  "its default; > 0: CFG)");
  cmd->add_option("--caption-tokens", f->caption_tokens,
                  "Z-Image: the caption length the DiT is costed at, chat template included (128)");
  cmd->add_option("--stages", f->stages, "stages per pipeline (default: the best layout)");
  cmd->add_option("--pipelines", f->pipelines, "pipelines (default: the best layout)");
  cmd->add_option("--memory-cap", f->memory_cap_gb, "memory per rank in GB (default: the device's)");
  cmd->add_option("--window", f->window, "micro-batches in flight per pipeline (default: stages + 1)");
  cmd->add_option("--json", f->json, "write the chosen plan to this JSON file");
  cmd->add_flag("--calibrate", f->calibrate, "load the weights and time every block on this CPU (--device cpu)");
  cmd->add_option("--refiner", f->refiner, "an SDXL refiner folder (configs are enough, e.g. configs/sdxl-refiner): "
                  "place it and the base in one ring on the chosen pipelines x stages");
  cmd->add_option("--refiner-stages", f->refiner_stages,
                  "with --refiner: R stages hold the refiner, the first S - R the base (0: both on every stage; "
                  "default: the best R)");
  cmd->add_option("--refiner-switch", f->refiner_switch, "with --refiner: the fraction of steps the base runs (0.8)");
  return [f] { return run_plan(*f); };
}

}  // namespace farm::launcher
