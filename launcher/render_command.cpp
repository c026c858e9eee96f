#include "launcher/render_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "farm/comm/local_transport.h"
#include "farm/comm/wire.h"
#include "farm/coord/archive.h"
#include "farm/coord/job_setup.h"
#include "farm/coord/png.h"
#include "farm/core/error.h"
#include "farm/pipeline/sd_model.h"
#include "farm/pipeline/zimage_pipeline.h"
#include "farm/sched/sampler.h"
#include "launcher/backend.h"
#include "launcher/render_layout.h"
#include "launcher/render_ranks.h"
#ifdef FARM_HAVE_MPI
#include "farm/comm/mpi_transport.h"
#endif

namespace farm::launcher {

namespace fs = std::filesystem;

namespace {

struct RenderFlags {
  std::string model, prompts, out, config, backend = "cpu", dtype;
  std::string negative_prompt, sampler;
  int64_t seed = -1;
  int steps = 0, width = 0, height = 0, clip_skip = 0, batch = 1;
  float guidance = 0;
  bool overwrite = false, random_weights = false, rerender_changed = false, no_space_check = false;
  int64_t max_failures = -1, job_seed = -1;
  double stall_timeout = 600, progress_every = 10;
  std::string metrics, name_template = "{index}-{seed}", archive;
  int stages = 0, pipelines = 0, window = 0;
  std::string plan, device, stats, trace, shard;
  std::string transport = "auto";
  std::string weights = "auto";
  std::string prompt_syntax, text_fix, lora_dir;
  int count = 0;
  std::string refiner;
  double refiner_switch = 0.8, aesthetic_score = 6.0, negative_aesthetic_score = 2.5;
  int refiner_stages = 0;
};

// Control always goes over MPI (or loopback); --transport says where stage
// tensors go (run_rank makes the device link).
std::unique_ptr<comm::Transport> make_transport(const RenderFlags& f) {
  if (f.transport == "nccl" && f.backend.rfind("cuda", 0) != 0)
    fail("--transport nccl: stage tensors go GPU to GPU only with --backend cuda or cuda-emu (not ", f.backend, ")");
#ifdef FARM_HAVE_MPI
  if (comm::launched_by_mpi()) {
    auto t = std::make_unique<comm::MpiTransport>();
    share_cores_among_ranks(t->local_ranks());
    return t;
  }
#endif
  return std::make_unique<comm::LocalTransport>();
}

// --archive: first brought in line with the journal (extended with what
// earlier runs finished, or rebuilt where the two disagree), then open for
// the coordinator to add each image as it lands.
void open_archive(const RenderFlags& f, RankJob& job, const PreparedJob& p) {
  ArchiveJob a;
  a.farm_version = FARM_VERSION;
  a.model = p.model_name;
  a.layout = p.run_record.layout;
  a.started = p.first_started;
  for (const auto& it : p.items) a.sizes.emplace_back(it.width, it.height);
  const ArchiveSync sync = sync_archive(f.archive, f.out, read_journal(p.journal_path), a, p.rerender);
  if (!sync.rebuilt_because.empty())
    std::fprintf(stderr, "farm: %s rebuilt from the journal (%s): %zu images\n", f.archive.c_str(),
                 sync.rebuilt_because.c_str(), sync.added);
  else if (sync.added)
    std::fprintf(stderr, "farm: %s extended from the journal with %zu images\n", f.archive.c_str(), sync.added);
  job.archive = std::make_shared<Archive>(Archive::open(f.archive, a));
  job.coord.on_written = [archive = job.archive](const JournalRecord& rec, const std::vector<uint8_t>& png) {
    archive->add(rec, decode_png(png, rec.file).rgb.data());
  };
}

// Rank 0, before any weights are read: the whole job checked (farm/coord),
// the layout chosen.
RankJob prepare_rank_job(const RenderFlags& f, CLI::App* cmd, int ranks) {
  // Configs only: every item is checked against the model before any rank reads weights.
  std::optional<pipeline::SdModel> sd;
  std::optional<pipeline::ZImageModel> zimage;
  if (pipeline::is_zimage_folder(f.model)) zimage = pipeline::ZImageModel::open(f.model);
  else sd = pipeline::SdModel::open(f.model);
  const JobModel model = zimage ? zimage_job_model(*zimage) : sd_job_model(*sd);
  JobRequest req;
  req.model_dir = f.model;
  req.prompts = f.prompts;
  req.out_dir = f.out;
  req.config = f.config;
  req.farm_version = FARM_VERSION;
  req.flags = [&f, cmd](JobDefaults& d) {
    auto given = [&](const char* name) { return cmd->count(name) > 0; };
    if (given("--negative-prompt")) d.negative_prompt = f.negative_prompt;
    if (given("--seed")) d.seed = f.seed;
    if (given("--steps")) d.steps = f.steps;
    if (given("--guidance")) d.guidance = f.guidance;
    if (given("--width")) d.width = f.width;
    if (given("--height")) d.height = f.height;
    if (given("--sampler")) d.sampler = f.sampler;
    if (given("--clip-skip")) d.clip_skip = f.clip_skip;
    if (given("--count")) d.count = f.count;
    if (given("--refiner")) d.refiner = f.refiner;
    if (given("--refiner-switch")) d.refiner_switch = f.refiner_switch;
    if (given("--aesthetic-score")) d.aesthetic_score = static_cast<float>(f.aesthetic_score);
    if (given("--negative-aesthetic-score")) d.negative_aesthetic_score = static_cast<float>(f.negative_aesthetic_score);
    if (given("--prompt-syntax") && !text::parse_syntax(f.prompt_syntax, d.reading.syntax))
      fail("--prompt-syntax '", f.prompt_syntax, "': expected a1111 (weights, BREAK, LoRA tags, any length) or plain");
    if (given("--text-fix")) {
      if (f.text_fix != "ftfy" && f.text_fix != "none")
        fail("--text-fix '", f.text_fix, "': expected ftfy (as CLIP was trained, the default) or none");
      d.reading.fix_text = f.text_fix == "ftfy";
    }
  };
  req.overwrite = f.overwrite;
  req.rerender_changed = f.rerender_changed;
  req.check_space = !f.no_space_check;
  req.batch = f.batch;
  req.job_seed = f.job_seed;
  req.name_template = f.name_template;
  req.lora_dir = f.lora_dir;
  if (!f.shard.empty()) {
    const auto slash = f.shard.find('/');
    size_t used_k = 0, used_n = 0;
    try {
      if (slash == std::string::npos) throw std::invalid_argument("no /");
      req.shard = std::stoi(f.shard.substr(0, slash), &used_k);
      req.shards = std::stoi(f.shard.substr(slash + 1), &used_n);
    } catch (const std::exception&) {
      used_k = 0;
    }
    if (used_k == 0 || used_k != slash || used_n != f.shard.size() - slash - 1 || req.shards < 1)
      fail("--shard '", f.shard, "': expected K/N, this job's slice K (0 to N-1) of N (e.g. 3/16, or ",
           "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-15)");
  }
  if (f.job_seed < -1) fail("--job-seed ", f.job_seed, ": must be -1 (drawn) or at least 0");
  if (f.window < 0) fail("--window ", f.window, ": must be at least 1");
  if (f.stall_timeout <= 0) fail("--stall-timeout ", f.stall_timeout, ": must be a positive number of seconds");
  if (f.max_failures < -1) fail("--max-failures ", f.max_failures, ": must be -1 (no limit) or at least 0");
  check_backend(f.backend, f.dtype);
  auto prepared = std::make_shared<PreparedJob>(prepare_job(req, model));

  RankJob job;
  job.model_dir = f.model;
  job.backend = f.backend;
  job.dtype = f.dtype;
  job.random_weights = f.random_weights;
  job.out_dir = f.out;
  job.stats_file = f.stats;
  job.trace_file = f.trace;
  job.coord.max_failures = f.max_failures;
  job.coord.terminal = ::isatty(STDERR_FILENO) != 0;
  job.coord.progress_every_s = f.progress_every;
  job.coord.metrics_file = f.metrics;
  size_t todo = 0;
  const JobItem* first = nullptr;
  for (const auto& mb : prepared->micro_batches) {
    todo += mb.size();
    if (!first) first = &mb.front();
  }
  LayoutRequest lr{.ranks = ranks, .stages = f.stages, .pipelines = f.pipelines, .window = f.window,
                   .plan_file = f.plan, .device = f.device, .batch = f.batch, .refiner_dir = prepared->refiner_dir,
                   .refiner_stages = f.refiner_stages};
  if (f.refiner_stages && prepared->refiner_dir.empty())
    fail("--refiner-stages ", f.refiner_stages, ": the job has no refiner (--refiner, or a 'refiner' field)");
  job.refiner_dir = prepared->refiner_dir;
  if (lr.device.empty()) lr.device = f.backend.rfind("cuda", 0) == 0 ? "a100" : "cpu";
  job.layout = choose_layout(f.model, lr, first ? *first : prepared->items.at(0));
  // Default: 10 minutes, or 50 of the plan's longest units when those are
  // longer (a full-size model on a slow device), so no honest unit trips it.
  job.stall_timeout_s = cmd->count("--stall-timeout") ? f.stall_timeout
                                                      : std::max(f.stall_timeout, 50 * job.layout.longest_unit_s);
  job.coord.stall_timeout_s = job.stall_timeout_s;
  prepared->run_record.layout = cat(job.layout.pipelines, "x", job.layout.stages);
  if (!f.archive.empty()) open_archive(f, job, *prepared);
  if (req.shards > 1)
    std::fprintf(stderr, "farm: shard %d/%d: items %lld-%lld of the %zu in %s\n", req.shard, req.shards,
                 static_cast<long long>(prepared->items.front().index),
                 static_cast<long long>(prepared->items.back().index), prepared->file_items, f.prompts.c_str());
  std::fprintf(stderr, "farm: %zu prompts, %zu to render in %zu micro-batches%s (run %lld of this job, job seed %llu)\n",
               prepared->items.size(), todo, prepared->micro_batches.size(),
               prepared->already_done ? cat(" (", prepared->already_done, " already done in ", f.out, ")").c_str() : "",
               static_cast<long long>(prepared->run), static_cast<unsigned long long>(prepared->job_seed));
  job.loras.assign(prepared->lora_files.begin(), prepared->lora_files.end());
  job.prepared = std::move(prepared);
  return job;
}

nlohmann::json layout_json(const pipeline::RingLayout& l) {
  return {{"pipelines", l.pipelines},
          {"stages", l.stages},
          {"ranges", l.ranges},
          {"window", l.window},
          {"window_fixed", l.window_fixed},
          {"stage_memory_bytes", l.stage_memory_bytes},
          {"refiner_ranges", l.refiner_ranges}};
}

int run_render(const RenderFlags& f, CLI::App* cmd) {
  auto t = make_transport(f);
  // Rank 0 validates; every rank learns the outcome (and the layout) at once.
  RankJob job;
  std::string error;
  if (t->rank() == 0) {
    try {
      job = prepare_rank_job(f, cmd, t->size());
    } catch (const Error& e) {
      error = e.what();
    }
  }
  comm::Bytes setup;
  if (t->rank() == 0)
    setup = comm::WireWriter(nlohmann::json{{"error", error},
                                            {"stall_timeout_s", job.stall_timeout_s},
                                            {"layout", error.empty() ? layout_json(job.layout) : nlohmann::json{}},
                                            {"loras", job.loras}, {"refiner", job.refiner_dir}})
                .take();
  setup = t->broadcast(std::move(setup), 0);
  comm::WireReader r(setup, "job set-up");
  if (const auto e = r.header().at("error").get<std::string>(); !e.empty()) {
    // Printed here, not by main(): once another rank exits, mpirun may stop
    // this one before the transport's destructor returns.
    if (t->rank() == 0) print_error(e);
    return 2;
  }
  if (t->rank() != 0) {
    const auto& l = r.header().at("layout");
    job.model_dir = f.model;
    job.backend = f.backend;
    job.dtype = f.dtype;
    job.random_weights = f.random_weights;
    job.stats_file = f.stats;  // only rank 0 writes it; every rank traces
    job.trace_file = f.trace;
    job.stall_timeout_s = r.header().at("stall_timeout_s").get<double>();
    job.layout.pipelines = l.at("pipelines").get<int>();
    job.layout.stages = l.at("stages").get<int>();
    job.layout.window = l.at("window").get<int>();
    job.layout.window_fixed = l.at("window_fixed").get<bool>();
    job.layout.ranges = l.at("ranges").get<std::vector<std::pair<size_t, size_t>>>();
    job.layout.stage_memory_bytes = l.at("stage_memory_bytes").get<std::vector<double>>();
    job.loras = r.header().at("loras").get<std::vector<std::pair<std::string, std::string>>>();
    job.layout.refiner_ranges = l.at("refiner_ranges").get<std::vector<std::pair<size_t, size_t>>>();
    job.refiner_dir = r.header().at("refiner").get<std::string>();
  }
  job.tensors = f.transport;
  job.weights = f.weights;
  return run_rank(*t, job);
}

}  // namespace

std::function<int()> add_render_command(CLI::App& app) {
  auto f = std::make_shared<RenderFlags>();
  CLI::App* cmd = app.add_subcommand("render", "Render a prompt file to PNG images (under mpirun/srun: on N ranks)");
  cmd->add_option("--model", f->model, "diffusers model folder (model_index.json, unet/, ...)")->required();
  cmd->add_option("--prompts", f->prompts, "prompt file: .txt (one per line), .jsonl, or .csv with a header row")->required();
  cmd->add_option("--out", f->out, "output folder: the images (NNNNN-SEED.png, see --name-template), journal.jsonl (what a rerun resumes from), report.json")->required();
  cmd->add_option("--config", f->config, "job defaults (TOML); flags override it, prompt lines override both");
  cmd->add_option("--negative-prompt", f->negative_prompt, "default negative prompt");
  cmd->add_option("--seed", f->seed, "default seed (-1: per item, derived from the job seed and the item's position: see --job-seed)");
  cmd->add_option("--steps", f->steps, "default sampling steps (20; Z-Image: 8, each one DiT evaluation)");
  cmd->add_option("--guidance", f->guidance,
                  "default CFG scale (7.5; <= 1 disables guidance). Z-Image: diffusers' guidance (0, its default, "
                  "disables it; > 0 mixes pos + g·(pos − neg))");
  cmd->add_option("--width", f->width, "default width (a multiple of 8; default: the model's native size, e.g. 512 for SD 1.5)");
  cmd->add_option("--height", f->height, "default height (a multiple of 8; default: the model's native size)");
  cmd->add_option("--sampler", f->sampler,
                  "default sampler: ddim, euler, euler_karras, euler_a, euler_a_karras, dpmpp_2m, dpmpp_2m_karras, or "
                  "as A1111 names them (\"Euler a\", \"DPM++ 2M Karras\", ...); Z-Image: flow_euler (its only one)");
  cmd->add_option("--clip-skip", f->clip_skip, "default clip skip (1: last layer, 2: penultimate)");
  cmd->add_option("--count", f->count, "default images per prompt line, seeds seed, seed+1, ... (A1111's batch count)");
  cmd->add_option("--prompt-syntax", f->prompt_syntax,
                  "a1111 (default): (word:1.2) weights, [word], BREAK, <lora:name:w>, prompts of any length; plain: "
                  "literal text cut at 75 tokens, as diffusers");
  cmd->add_option("--text-fix", f->text_fix,
                  "ftfy (default): fix text as CLIP's tokenizer does (ftfy), keeping CJK words whole; none: "
                  "transformers without ftfy");
  cmd->add_option("--lora-dir", f->lora_dir, "folder of LoRA files: <lora:NAME:w> or {\"loras\": [{\"name\": NAME}]} "
                  "reads NAME.safetensors there or below (kohya or diffusers/PEFT format)");
  cmd->add_option("--refiner", f->refiner,
                  "SDXL refiner (diffusers folder) for an SDXL base: it takes the steps after --refiner-switch, as "
                  "diffusers' base->refiner ensemble; a prompt line's 'refiner' field overrides it (\"\" for none)");
  cmd->add_option("--refiner-switch", f->refiner_switch,
                  "fraction of the schedule the base runs before the refiner takes over (diffusers' denoising_end; "
                  "default 0.8)");
  cmd->add_option("--aesthetic-score", f->aesthetic_score, "the refiner's aesthetic-score conditioning (default 6.0)");
  cmd->add_option("--negative-aesthetic-score", f->negative_aesthetic_score,
                  "the refiner's aesthetic score for the unconditional rows (default 2.5)");
  cmd->add_option("--refiner-stages", f->refiner_stages,
                  "the last R stages of each pipeline hold the refiner and the first ones the base (base and refiner "
                  "on different ranks); default 0: every stage holds a share of both");
  cmd->add_option("--batch", f->batch, "micro-batch size (images do not depend on it)");
  cmd->add_option("--backend", f->backend,
                  "cpu (default), ref (plain loops, slow), cuda (one GPU per rank, weights and activations on "
                  "the device), cuda-emu (the cuda path on the SIMT emulator: any machine, slow, for checking)");
  cmd->add_option("--dtype", f->dtype,
                  "cpu: f32 (default) or bf16 (bf16 weights and matrix products, fp32 sums and norms; on CPUs "
                  "with AMX, else f32); cuda: f16 (default) or bf16, weights and activations")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_flag("--overwrite", f->overwrite, "render every item again, even those the journal has as done");
  cmd->add_flag("--rerender-changed", f->rerender_changed,
                "render again the items whose prompt or parameters changed since the journal recorded them "
                "(without it, such items are an error)");
  cmd->add_option("--job-seed", f->job_seed,
                  "the seed random item seeds derive from (default: drawn at the job's first run and kept in "
                  "the journal, so a rerun makes the same images)");
  cmd->add_option("--shard", f->shard,
                  "K/N: render only the K-th (0-based) of N consecutive slices of the prompt file, e.g. a Slurm job "
                  "array's task; give each shard its own --out, and one --job-seed to all for the unsliced job's seeds");
  cmd->add_option("--name-template", f->name_template,
                  "image file names: {index} (required; {index:N} pads to N digits), {seed}, {prompt} (made safe "
                  "for file systems), {steps}, {sampler}, {width}, {height}, {date} (the job's first day); '/' "
                  "makes subfolders inside --out. Default {index}-{seed}");
  cmd->add_option("--archive", f->archive,
                  "also write the images and their items to this HDF5 file (per size: uint8 [N,H,W,3] and the item "
                  "table), extended as images land and readable while the job runs (SWMR)");
  cmd->add_option("--max-failures", f->max_failures,
                  "stop the job once more than this many items failed (default -1: never; failed items are "
                  "journaled and the job goes on)");
  cmd->add_option("--stall-timeout", f->stall_timeout,
                  "seconds without progress from a rank (silent, or inside one UNet pass or VAE part) before the "
                  "job is aborted, naming the rank (default 600, or 50 of the plan's longest predicted units if longer)");
  cmd->add_option("--progress-every", f->progress_every,
                  "seconds between progress lines when stderr is not a terminal (default 10)");
  cmd->add_option("--metrics", f->metrics,
                  "write Prometheus metrics (text format, atomically rewritten every few seconds) to this file");
  cmd->add_flag("--no-space-check", f->no_space_check, "start even if --out has less free space than the job needs");
  cmd->add_flag("--random-weights", f->random_weights,
                "benchmarks: draw every weight from a fixed seed instead of reading files, so a config-only "
                "folder (configs/sd15) renders at full size; the images are noise");
  cmd->add_option("--stages", f->stages, "pipeline stages per pipeline (default: the partitioner's choice)");
  cmd->add_option("--pipelines", f->pipelines, "pipelines (ranks = pipelines x stages)");
  cmd->add_option("--plan", f->plan, "plan file from `farm plan --json` (layout and block ranges)");
  cmd->add_option("--window", f->window, "micro-batches in flight per pipeline, fixed (default: stages + 1, or the plan's, grown "
                  "to cover the link latency measured at start-up)");
  cmd->add_option("--device", f->device, "device profile the partitioner costs with: cpu, a100, h100");
  cmd->add_option("--stats", f->stats, "write per-rank statistics and busy traces (JSON) here");
  cmd->add_option("--trace", f->trace,
                  "write the job's trace here: Chrome trace JSON (ui.perfetto.dev, chrome://tracing), every rank's "
                  "busy intervals and state messages on rank 0's clock (offsets measured at start-up)");
  cmd->add_option("--transport", f->transport,
                  "stage-to-stage tensors: auto (nccl with a cuda backend when the build has NCCL, else mpi), "
                  "mpi (through the host), or nccl (GPU to GPU; --backend cuda or cuda-emu). Control is MPI")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  cmd->add_option("--weights", f->weights,
                  "shared: the lowest rank of each stage's ranks reads the stage's weights from the files and sends "
                  "them to the others over MPI; each: every rank reads its own (on one node the page cache already "
                  "shares the reads); auto (default): shared when some stage's ranks are on more than one host")
      ->check(CLI::IsMember({"shared", "each", "auto"}));
  return [f, cmd] { return run_render(*f, cmd); };
}

}  // namespace farm::launcher
