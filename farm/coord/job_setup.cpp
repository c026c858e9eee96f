#include "farm/coord/job_setup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>

#include "farm/coord/atomic_file.h"
#include "farm/coord/batcher.h"
#include "farm/coord/job_item_json.h"
#include "farm/coord/job_loras.h"
#include "farm/coord/job_seeds.h"
#include "farm/coord/model_defaults.h"
#include "farm/coord/name_template.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"
#include "farm/io/checkpoint_configs.h"
#include "farm/pipeline/conditioning.h"
#include "farm/sched/sampler.h"

namespace farm {

namespace fs = std::filesystem;

namespace {

JobDefaults layered_defaults(const JobRequest& r, const JobModel& model) {
  JobDefaults d = model_job_defaults(r.model_dir, model.defaults);
  if (!r.config.empty()) d = load_job_config(r.config, d);
  if (r.flags) r.flags(d);
  const std::string who = r.config.empty() ? r.flags_name : cat(r.flags_name, " over ", r.config);
  if (const std::string s = sched::canonical_sampler(d.sampler); !s.empty()) d.sampler = s;
  if (d.steps < 1) fail("job defaults (", who, "): steps ", d.steps, ": must be at least 1");
  if (d.width <= 0 || d.height <= 0 || d.width % 8 || d.height % 8)
    fail("job defaults (", who, "): size ", d.width, "x", d.height, ": must be positive multiples of 8");
  if (!sched::is_known_sampler(d.sampler))
    fail("job defaults (", who, "): sampler '", d.sampler, "' is unknown (expected one of ", sched::sampler_names_list(),
         ")");
  // The defaults against the model before the lines: a bad flag is the
  // flag's error, not every line's that inherits it.
  pipeline::Txt2ImgRequest req;
  req.negative_prompt = d.negative_prompt;
  req.steps = d.steps, req.guidance = d.guidance, req.width = d.width, req.height = d.height;
  req.sampler = d.sampler, req.clip_skip = d.clip_skip, req.reading = d.reading;
  try {
    model.check(req, nullptr);
  } catch (const Error& e) {
    fail("job defaults (", who, "): ", e.what());
  }
  return d;
}

// Writable and ours alone (the room for the images is checked once the work
// left is known).
std::shared_ptr<FolderLock> open_output_folder(const JobRequest& r) {
  std::error_code ec;
  fs::create_directories(r.out_dir, ec);
  if (!fs::is_directory(r.out_dir)) fail(r.out_dir, ": cannot create the output folder", ec ? ": " + ec.message() : "");
  const std::string probe = (fs::path(r.out_dir) / cat(".farm-write-check.tmp.", ::getpid())).string();
  if (FILE* f = std::fopen(probe.c_str(), "wb")) {
    std::fclose(f);
    std::remove(probe.c_str());
  } else {
    fail(r.out_dir, ": the output folder is not writable (", std::strerror(errno), ")");
  }
  auto lock = FolderLock::try_lock(r.out_dir);
  if (!lock)
    fail(r.out_dir, ": another farm job is writing to this output folder (it holds the folder's lock); wait for it "
         "or choose another --out");
  return lock;
}

// PNGs at zlib level 1 measured 0.55 of the raw RGB size on SD images; 0.7
// leaves room for noisier ones.
void check_free_space(const std::string& dir, const std::vector<std::vector<JobItem>>& todo) {
  double need = 0;
  for (const auto& mb : todo)
    for (const auto& it : mb) need += 0.7 * 3.0 * it.width * it.height;
  struct statvfs s {};
  if (::statvfs(dir.c_str(), &s) != 0) return;
  const double free_b = static_cast<double>(s.f_bavail) * static_cast<double>(s.f_frsize);
  if (free_b < need)
    fail(dir, ": about ", need / 1e9, " GB are needed for the images left to render but only ", free_b / 1e9,
         " GB are free; free some space, or pass --no-space-check to start anyway");
}


// The one refiner the items name (its configs: every item is checked against
// it before any weight is read). Two different ones are an error: each rank
// holds its share of one refiner for the whole job.
void open_refiner(PreparedJob& job) {
  const JobItem* first = nullptr;
  for (const auto& it : job.items) {
    if (it.refiner.empty()) continue;
    if (!first) {
      first = &it;
      continue;
    }
    std::error_code e1, e2;
    if (it.refiner != first->refiner && !fs::equivalent(it.refiner, first->refiner, e1))
      fail(it.source, ":", it.line, ": field 'refiner': '", it.refiner, "', but line ", first->line, " names '",
           first->refiner, "': a job renders with one refiner (split the prompt file, or run two jobs)");
  }
  if (!first) return;
  try {
    job.refiner = std::make_shared<pipeline::SdModel>(pipeline::SdModel::open(first->refiner));
  } catch (const Error& e) {
    fail(first->source, ":", first->line, ": field 'refiner': ", e.what());
  }
  job.refiner_dir = first->refiner;
}

}  // namespace

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::shared_ptr<FolderLock> FolderLock::try_lock(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(dir, ": cannot open the output folder: ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::shared_ptr<FolderLock>(new FolderLock(fd));
}

FolderLock::~FolderLock() { ::close(fd_); }

std::string model_fingerprint(const std::string& model_path) {
  Sha256 h;
  std::string model_dir = model_path;
  if (fs::is_regular_file(model_path)) {  // a single-file checkpoint: it and its family's built-in configs
    h.update(cat(fs::path(model_path).filename().string(), '\n', fs::file_size(model_path), '\n'));
    model_dir = resolve_model_source(model_path).config_dir;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(model_dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string rel = fs::relative(p, model_dir).generic_string();
    const std::string ext = p.extension().string();
    if (p.filename() == "farm.toml") continue;  // job defaults, not pixels: the items carry them
    h.update(rel + '\n');
    if (ext == ".json" || ext == ".txt" || ext == ".toml") {
      const auto bytes = read_file_bytes(p.string());
      h.update(bytes.data(), bytes.size());
    } else {
      h.update(std::to_string(fs::file_size(p)) + '\n');
    }
  }
  return h.hex();
}

size_t remove_stale_temporaries(const std::string& dir) {
  size_t removed = 0;
  std::error_code ec;
  // Recursive: --name-template may put images in subfolders.
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos && e.is_regular_file()) {
      fs::remove(e.path(), ec);
      removed += !ec;
    }
  }
  return removed;
}

PreparedJob prepare_job(const JobRequest& r, const JobModel& model) {
  if (model.is_refiner)
    fail(r.model_dir, ": an SDXL refiner continues an SDXL base's latents; give the base as --model and this one as ",
         "--refiner");
  const JobDefaults d = layered_defaults(r, model);
  if (r.batch < 1) fail("--batch ", r.batch, ": must be at least 1");
  PreparedJob job;
  job.items = load_prompts(r.prompts, d, [](const std::string& s) { return !sched::canonical_sampler(s).empty(); });
  size_t cut = 0;
  for (auto& it : job.items) {
    it.sampler = sched::canonical_sampler(it.sampler);
    it.text_chunks = model.text_chunks(it);
    if (it.copy == 0) cut += model.cut(it);
  }
  if (cut) std::fprintf(stderr, "farm: %zu prompts are longer than %s\n", cut, model.cut_note.c_str());
  job.lora_files = resolve_loras(r.lora_dir, job.items);
  if (model.takes_refiner) open_refiner(job);
  for (const auto& it : job.items) {
    auto req = to_request(it);
    req.seed = 0;  // random seeds are drawn below
    try {
      model.check(req, job.refiner.get());
    } catch (const Error& e) {
      fail(it.source, ":", it.line, ": ", e.what());
    }
  }
  job.out_dir = r.out_dir;
  job.lock = open_output_folder(r);
  job.journal_path = (fs::path(r.out_dir) / "journal.jsonl").string();
  if (const size_t n = remove_stale_temporaries(r.out_dir))
    std::fprintf(stderr, "farm: removed %zu temporary files a killed run left in %s\n", n, r.out_dir.c_str());

  const JournalContents past = read_journal(job.journal_path);
  job.run = static_cast<int64_t>(past.runs.size()) + 1;
  if (!past.runs.empty() && r.job_seed >= 0 && static_cast<uint64_t>(r.job_seed) != past.runs.front().job_seed)
    fail("--job-seed ", r.job_seed, ": ", r.out_dir, " holds a job started with job seed ", past.runs.front().job_seed,
         " (its journal); drop --job-seed to resume it, or use another --out");
  job.job_seed = !past.runs.empty() ? past.runs.front().job_seed
                 : r.job_seed >= 0  ? static_cast<uint64_t>(r.job_seed)
                                    : draw_job_seed();
  assign_random_seeds(job.items, job.job_seed);
  job.file_items = job.items.size();
  if (r.shards > 1) {
    if (r.shard < 0 || r.shard >= r.shards) fail("--shard ", r.shard, "/", r.shards, ": K must be 0 to ", r.shards - 1);
    const size_t n = job.items.size(), k = static_cast<size_t>(r.shard), m = static_cast<size_t>(r.shards);
    job.items = std::vector<JobItem>(job.items.begin() + static_cast<std::ptrdiff_t>(k * n / m),
                                     job.items.begin() + static_cast<std::ptrdiff_t>((k + 1) * n / m));
    if (job.items.empty()) fail("--shard ", r.shard, "/", r.shards, ": ", r.prompts, " has ", n, " items, none for this shard");
    job.first_index = job.items.front().index;
  }
  // {date} is the job's first day, so a rerun after midnight finds the same names.
  job.first_started = past.runs.empty() ? now_utc() : past.runs.front().started;
  job.files = NameTemplate(r.name_template).file_names(job.items, job.first_started.substr(0, 10));
  job.model_name = model.name;
  job.model_fingerprint = model_fingerprint(r.model_dir);
  if (job.refiner) job.refiner_fingerprint = model_fingerprint(job.refiner_dir);

  // Resume trusts the journal: an item is done when its latest record says
  // so, for this very item, and the file it names is there.
  const auto latest = past.latest();
  std::vector<JobItem> todo;
  std::string changed;
  size_t n_changed = 0;
  std::error_code ec;
  for (const auto& it : job.items) {
    job.keys.push_back(item_key(it, job.model_fingerprint, it.refiner.empty() ? "" : job.refiner_fingerprint));
    const auto rec = latest.find(it.index);
    const JournalRecord* done = rec != latest.end() && rec->second->status == "done" ? rec->second : nullptr;
    if (!done) {
      todo.push_back(it);
      continue;
    }
    if (r.overwrite) {
      job.rerender.insert(it.index);
      todo.push_back(it);
      continue;
    }
    if (done->key != job.keys.back()) {
      // Its old image goes: the new one may have another name (another seed).
      if (r.rerender_changed && done->file != job.files[job.at(it.index)]) fs::remove(fs::path(r.out_dir) / done->file, ec);
      if (!r.rerender_changed && n_changed++ < 5)
        changed += cat("\n  item ", it.index, " (", it.source, ":", it.line, "): was rendered as '",
                       done->item.prompt.substr(0, 40), "' seed ", done->item.seed, " ", done->item.width, "x",
                       done->item.height, " ", done->item.steps, " steps ", done->item.sampler, " (", done->file, ")");
      job.rerender.insert(it.index);
      todo.push_back(it);
      continue;
    }
    if (!fs::exists(fs::path(r.out_dir) / done->file)) {
      job.rerender.insert(it.index);
      todo.push_back(it);
      continue;
    }
    ++job.already_done;
  }
  if (n_changed)
    fail(r.out_dir, ": ", n_changed, " items differ from what the journal recorded for them (the prompt file, "
         "flags or model changed since):", changed, n_changed > 5 ? "\n  ..." : "",
         "\nrerun with --rerender-changed to render them again (their old images are replaced), or use another --out");
  job.micro_batches = make_micro_batches(todo, r.batch);
  if (r.check_space) check_free_space(r.out_dir, job.micro_batches);
  job.run_record.run = job.run;
  job.run_record.job_seed = job.job_seed;
  job.run_record.farm_version = r.farm_version;
  job.run_record.model = model.name;
  job.run_record.started = past.runs.empty() ? job.first_started : now_utc();
  return job;
}

}  // namespace farm
