#include "launcher/render_ranks.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "farm/comm/clock_sync.h"
#include "farm/comm/wire.h"
#include "farm/coord/coordinator.h"
#include "farm/coord/image_metadata.h"
#include "farm/coord/job_item_json.h"
#include "farm/coord/atomic_file.h"
#include "farm/coord/png.h"
#include "farm/core/error.h"
#include "farm/pipeline/ring.h"
#include "farm/pipeline/zimage_ring.h"
#include "farm/pipeline/ring_latency.h"
#include "farm/sched/sampler.h"
#include "launcher/backend.h"
#include "launcher/rank_watch.h"
#include "launcher/render_report.h"
#ifdef FARM_HAVE_MPI
#include "farm/comm/mpi_weight_share.h"
#endif
#include "launcher/render_trace.h"

namespace farm::launcher {

using pipeline::RingTag;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every rank's bytes, on every rank (gather to 0, then broadcast).
std::vector<std::vector<uint8_t>> all_gather(comm::Transport& t, std::vector<uint8_t> mine) {
  const auto at_root = t.gather(std::move(mine), 0);
  comm::Bytes packed;
  if (t.rank() == 0) {
    comm::WireWriter w(nlohmann::json{{"ranks", at_root.size()}});
    for (const auto& b : at_root) w.blob(b);
    packed = w.take();
  }
  packed = t.broadcast(std::move(packed), 0);
  comm::WireReader r(packed, "link set-up");
  std::vector<std::vector<uint8_t>> all;
  for (size_t i = 0, n = r.header().at("ranks").get<size_t>(); i < n; ++i) all.push_back(r.blob());
  return all;
}

// A collective ok/error step: every rank's error (if any) reaches rank 0,
// which fails naming each failed rank and host; the others just stop.
bool all_ok(comm::Transport& t, const std::string& error) {
  const auto all = t.gather(comm::WireWriter(nlohmann::json{{"host", t.host()}, {"error", error}}).take(), 0);
  std::string msg;
  for (size_t r = 0; r < all.size(); ++r) {
    comm::WireReader rd(all[r], "start-up status");
    const auto e = rd.header().at("error").get<std::string>();
    if (e.empty()) continue;
    msg += cat(msg.empty() ? "" : "\n  ", t.size() > 1 ? cat("rank ", r, " (host ", rd.header().at("host").get<std::string>(), "): ") : "", e);
  }
  // Printed before the others learn of it: once they exit, mpirun may stop this rank.
  if (t.rank() == 0 && !msg.empty()) print_error(msg);
  return t.broadcast(comm::Bytes{static_cast<uint8_t>(msg.empty())}, 0).at(0) != 0;
}

// Z-Image's guidance g is diffusers' (pos + g·(pos − neg), off at 0); the
// A1111 string other tools read carries their CFG scale, g + 1 (off at 1),
// and farm's own chunk keeps g with the rule it follows.
comm::Bytes encode_image(const std::string& model_name, bool zimage, const pipeline::RingItem& ri,
                         const pipeline::RgbImage& im) {
  const JobItem it = job_item_from_json(ri.meta.dump());
  const std::string display = sched::sampler_display_name(it.sampler);
  JobItem shown = it;
  nlohmann::json extra{{"model", model_name}, {"sampler_name", display}};
  if (zimage) {
    shown.guidance += 1.0f;
    extra["guidance_rule"] = "pos + guidance * (pos - neg) (diffusers ZImagePipeline; A1111 CFG scale = guidance + 1)";
  }
  const PngText text = {{"parameters", a1111_parameters(shown, model_name, display)},
                        {"farm", item_json(it, extra)}};
  return encode_png(im.width, im.height, im.rgb.data(), text);
}

nlohmann::json counters_json(const kernels::DeviceCounters& c) {
  return {{"h2d_bytes", c.h2d_bytes}, {"d2h_bytes", c.d2h_bytes},   {"allocations", c.allocations},
          {"syncs", c.syncs},         {"stream_syncs", c.stream_syncs}, {"launches", c.launches}};
}

// Whole job, and per steady-state UNet pass (every pass after the job's first): max and mean.
nlohmann::json device_json(const pipeline::RingStats& s) {
  nlohmann::json j = counters_json(s.device);
  const int64_t n = std::max<int64_t>(1, s.steady_passes);
  const auto& a = s.pass_sum;
  j["weights_placed"] = s.weights_placed;
  j["reserved_bytes"] = s.reserved_bytes;
  j["peak_bytes"] = s.peak_bytes;
  j["weight_bytes_placed"] = s.weight_bytes_placed;
  j["op_ms"] = nlohmann::json::object();
  for (const auto& [name, t] : s.op_times) j["op_ms"][name] = {{"ms", t.first}, {"calls", t.second}};
  j["per_step"] = counters_json(s.pass_max);
  j["per_step"]["passes"] = s.steady_passes;
  j["per_step_mean"] = {{"h2d_bytes", a.h2d_bytes / n},   {"d2h_bytes", a.d2h_bytes / n},
                        {"allocations", a.allocations / n}, {"syncs", a.syncs / n},
                        {"stream_syncs", a.stream_syncs / n}, {"launches", a.launches / n}};
  return j;
}

double peak_rss_mb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024 / 1e6;  // KiB
}

// Weight bytes this rank loaded: in all, read from its files, received from its stage group's reader.
struct WeightBytes {
  size_t total = 0, read = 0, received = 0;
};

nlohmann::json stats_json(const comm::Transport& t, const pipeline::RingLayout& l, const pipeline::RingStats& s,
                          double load_s, const WeightBytes& model) {
  const int st = l.stage_of(t.rank());
  nlohmann::json j = {{"rank", t.rank()},
                      {"host", t.host()},
                      {"pipeline", l.pipeline_of(t.rank())},
                      {"stage", st},
                      {"blocks", {l.ranges[st].first, l.ranges[st].second}},
                      {"load_s", load_s},
                      {"peak_rss_mb", peak_rss_mb()},  // this process's high-water mark: its stage's share
                      {"weight_bytes", model.total},
                      {"weight_bytes_read", model.read},  // from this rank's files
                      {"weight_bytes_received", model.received},  // from its stage group's reader
                      {"busy_s", s.busy_s},
                      {"text_s", s.text_s},
                      {"unet_s", s.unet_s},
                      {"vae_s", s.vae_s},
                      {"encode_s", s.encode_s},
                      {"wire_s", s.wire_s},
                      {"unet_passes", s.unet_passes},
                      {"refiner_unet_s", s.refiner_unet_s},
                      {"refiner_passes", s.refiner_passes},
                      {"admitted", s.admitted},
                      {"finished", s.finished},
                      {"state_bytes_sent", s.state_bytes_sent},
                      {"states_sent", s.states_sent},
                      {"tensor_bytes_sent", s.tensor_bytes_sent},
                      {"link_bytes_sent", s.link_bytes_sent},
                      {"tensors_over", s.tensors_over},
                      {"ring_latency_s", s.ring_latency_s},
                      {"window", s.window},
                      {"device", device_json(s)},
                      {"bytes_sent", t.traffic().bytes_sent},
                      {"messages_sent", t.traffic().messages_sent}};
  return j;
}

// Before any weight is read: the partitioner's memory for this rank's stage
// must fit what its GPU has free.
void check_device_memory(const kernels::Backend& be, const pipeline::RingLayout& l, int stage,
                         const comm::Transport& t) {
  const int64_t free_b = be.free_memory();
  if (free_b < 0 || static_cast<size_t>(stage) >= l.stage_memory_bytes.size()) return;
  const double need = l.stage_memory_bytes[static_cast<size_t>(stage)];
  if (need > static_cast<double>(free_b))
    fail("rank ", t.rank(), " (", t.host(), "): stage ", stage, " needs about ", need / 1e9,
         " GB of device memory (weights, working memory and queued states, as `farm plan` estimates) but its GPU has ",
         static_cast<double>(free_b) / 1e9, " GB free of ", static_cast<double>(be.total_memory()) / 1e9,
         " GB; use more stages (--stages), a smaller --batch or a smaller size");
}

// --weights shared with more than one pipeline: the ranks of each stage form a
// group whose lowest rank reads the stage's weights for all of it. A
// collective over every rank.
std::unique_ptr<WeightShare> make_weight_share(comm::Transport& t, const RankJob& job, int stage) {
  if (job.weights == "each" || job.random_weights || job.layout.pipelines < 2 || t.size() < 2) return nullptr;
  if (job.weights == "auto") {
    // Ranks of one node share its page cache, which already reads each file
    // once there; sending the bytes over MPI only pays across nodes (measured:
    // slower on one node, 1.5-2.6x faster at 4 ranks on a throttled disk).
    // One decision for all ranks: the group split below is a collective.
    const std::string host = t.host();
    const auto hosts = t.gather(comm::Bytes(host.begin(), host.end()), 0);
    bool spans = false;
    for (size_t r = 0; r < hosts.size(); ++r)
      spans = spans || hosts[r] != hosts[static_cast<size_t>(job.layout.stage_of(static_cast<int>(r)))];
    spans = t.broadcast(comm::Bytes{static_cast<uint8_t>(spans)}, 0).at(0) != 0;
    if (!spans) return nullptr;
  }
#ifdef FARM_HAVE_MPI
  return comm::make_mpi_weight_share(stage, t.host());
#else
  return nullptr;
#endif
}

// Rank 0's line on where the weights came from (a collective; one process
// has only the "loaded" line).
void print_weight_sources(comm::Transport& t, const RankJob& job, const WeightBytes& model) {
  if (t.size() < 2) return;
  const auto all = t.gather(comm::WireWriter(nlohmann::json{{"read", model.read}, {"received", model.received}})
                                .take(),
                            0);
  if (t.rank() != 0 || job.random_weights) return;
  double read = 0, received = 0;
  int readers = 0, receivers = 0;
  for (const auto& b : all) {
    const auto h = comm::WireReader(b, "weight counters").header();
    const auto r = h.at("read").get<size_t>(), c = h.at("received").get<size_t>();
    read += static_cast<double>(r), received += static_cast<double>(c);
    readers += r > 0, receivers += c > 0;
  }
  auto ranks = [](int n) { return n == 1 ? "rank" : "ranks"; };
  std::fprintf(stderr, "farm: weights (--weights %s): %.1f MB read from files by %d %s, %.1f MB received from "
               "their stage's reader by %d %s\n", job.weights.c_str(), read / 1e6, readers, ranks(readers),
               received / 1e6, receivers, ranks(receivers));
}

// Fault injection for the tests. FARM_FAULT=RANK:PASSES makes rank RANK fail
// after PASSES UNet passes (the job ends cleanly, exit 1); RANK:PASSES:hang
// makes it hang there instead (the watchdog ends the job).
// FARM_FAULT_ITEMS=I,J,... gives those items (job indices) a NaN latent on the
// last stage: they fail, the job goes on (exit 3).
struct Fault {
  int rank = -1;
  int64_t passes = 0;
  bool hang = false;
  std::vector<int64_t> items;
};

Fault fault_from_env() {
  Fault f;
  if (const char* e = std::getenv("FARM_FAULT")) {
    char mode[8] = {};
    const int n = std::sscanf(e, "%d:%ld:%7s", &f.rank, &f.passes, mode);
    if (n < 2 || (n == 3 && std::string(mode) != "hang"))
      fail("FARM_FAULT='", e, "': expected RANK:PASSES or RANK:PASSES:hang");
    f.hang = n == 3;
  }
  if (const char* e = std::getenv("FARM_FAULT_ITEMS")) {
    std::string list = e;
    for (size_t p = 0; p < list.size();) {
      const size_t q = std::min(list.find(',', p), list.size());
      f.items.push_back(std::stoll(list.substr(p, q - p)));
      p = q + 1;
    }
  }
  return f;
}

}  // namespace

void print_error(const std::string& msg) {
  std::fprintf(stderr, "farm: error: %s\n", msg.c_str());
  std::fflush(stderr);
}

int run_rank(comm::Transport& t, const RankJob& job) {
  install_stop_signals();  // SIGINT/SIGTERM end the job in order (see the event loop)
  Fault fault;
  const auto& l = job.layout;
  const int stage = l.stage_of(t.rank());
  const bool first = stage == 0, last = stage == l.stages - 1;

  // 1. This rank's share of the weights, and its kernels.
  const auto t_load = std::chrono::steady_clock::now();
  pipeline::SdModel model, refiner;
  pipeline::ZImageModel zmodel;  // a Z-Image folder: the DiT family (zimage_ring.h)
  const bool zimage = pipeline::is_zimage_folder(job.model_dir);
  std::unique_ptr<kernels::Backend> backend;
  std::string error;
  // Made before anything below can fail, so that every rank joins the collective
  // (every rank sees the same folder, so all or none of them skip it).
  std::unique_ptr<WeightShare> share = zimage ? nullptr : make_weight_share(t, job, stage);
  try {
    fault = fault_from_env();
    comm::test_clock_skew_s(0);  // a malformed FARM_CLOCK_SKEW_S fails here, not inside the clock sync
    backend = make_backend(job.backend, job.dtype, t.local_rank(), t.local_ranks(), t.host());
    check_device_memory(*backend, l, stage, t);
    if (zimage) {
      zmodel = pipeline::ZImageModel::open(job.model_dir);
      zmodel.load_weights(*backend, {.text_encoder = first, .vae = last, .dit_begin = l.ranges[stage].first,
                                     .dit_end = l.ranges[stage].second, .random_weights = job.random_weights,
                                     .seed = 0});
      if (!job.loras.empty()) fail("LoRAs for Z-Image models are not supported yet");
    } else {
      model = pipeline::SdModel::open(job.model_dir);
      model.load_weights(*backend, {.text_encoder = first, .vae = last, .unet_begin = l.ranges[stage].first,
                          .unet_end = l.ranges[stage].second, .random_weights = job.random_weights,
                          .seed = 0, .share = share.get()});
      if (share) share->finish();
      if (!job.loras.empty()) model.load_loras(job.loras);  // this rank's layers' tensors only
      if (l.has_refiner()) {  // its blocks of this stage, its text encoder on stage 0, its VAE on the last
        refiner = pipeline::SdModel::open(job.refiner_dir);
        refiner.load_weights(*backend, {.text_encoder = first, .vae = last, .unet_begin = l.refiner_ranges[stage].first,
                                        .unet_end = l.refiner_ranges[stage].second, .random_weights = job.random_weights,
                                        .seed = 1});
      }
    }
  } catch (const Error& e) {
    error = e.what();
    // Takes the reader's remaining broadcasts (or, on the reader, ends them):
    // no rank of the stage group is left blocked before all_ok.
    if (share) share->leave(error);
  }
  share.reset();
  if (!all_ok(t, error)) return 2;
  const double load_s = seconds_since(t_load);
  const std::string model_name = zimage ? zmodel.name : model.name;
  const WeightBytes weights = zimage ? WeightBytes{zmodel.weight_bytes, zmodel.weight_bytes, 0}
                                     : WeightBytes{model.weight_bytes, model.weight_bytes_read,
                                                   model.weight_bytes_received};
  if (t.rank() == 0)
    std::fprintf(stderr, "farm: loaded %s (rank 0: %.1f MB of %s weights on %s, %s) in %.2f s\n",
                 model_name.c_str(), static_cast<double>(backend->weight_bytes()) / 1e6,
                 dtype_name(backend->dtype()), backend->name().c_str(),
                 job.random_weights ? "drawn from a seed: --random-weights" : "read once", load_s);
  print_weight_sources(t, job, weights);

  // Tracing: every rank's clock against rank 0's (a collective; nothing else
  // is in flight now, so the pings meet no queue).
  const bool trace = !job.stats_file.empty() || !job.trace_file.empty();
  std::vector<comm::ClockOffset> clocks;
  if (trace) clocks = comm::sync_clocks(t);

  // The device link between the stages that exchange tensors (a collective).
  std::unique_ptr<kernels::TensorLink> link;
  if (job.tensors != "mpi" && l.stages > 1 && backend->device() == Device::cuda) {
    try {
      auto edges = zimage ? pipeline::dit_link_edges(l) : pipeline::RingRoutes(model.unet->blocks(), l).link_edges();
      if (l.has_refiner()) {  // the refiner's routes too, and its added conditioning from stage 0
        const auto more = pipeline::RingRoutes(refiner.unet->blocks(), l.refiner_layout()).link_edges();
        edges.insert(edges.end(), more.begin(), more.end());
        for (int p = 0; p < l.pipelines; ++p)
          for (int s = 1; s < l.stages; ++s) edges.push_back({l.rank_of(p, 0), l.rank_of(p, s)});
        std::sort(edges.begin(), edges.end());
        edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
      }
      link = backend->make_link(t.rank(), edges,
                                [&t](std::vector<uint8_t> mine) { return all_gather(t, std::move(mine)); });
      if (!link && job.tensors == "nccl")
        error = cat("--transport nccl: this build has no NCCL link for the ", backend->name(),
                    " backend (it needs NCCL for cuda, MPI for cuda-emu)");
    } catch (const Error& e) {
      error = e.what();
    }
    if (!all_ok(t, error)) return 2;
  }

  // How long a state takes around each pipeline's ring: stage 0 keeps enough
  // micro-batches in flight to cover it (a collective, like the above).
  double ring_latency_s = 0;
  try {
    ring_latency_s = pipeline::measure_ring_latency(t, l);
  } catch (const Error& e) {
    error = e.what();
  }
  if (!all_ok(t, error)) return 2;

  // 2. The event loop: messages in, one unit of work at a time.
  const pipeline::ImageEncoder encode = [&model_name, zimage](const pipeline::RingItem& ri,
                                                                const pipeline::RgbImage& im) {
    return encode_image(model_name, zimage, ri, im);
  };
  std::unique_ptr<pipeline::RingStageBase> stage_ptr;
  if (zimage) stage_ptr = std::make_unique<pipeline::DitRingStage>(zmodel, *backend, l, t, encode, link.get());
  else stage_ptr = std::make_unique<pipeline::RingStage>(model, l, t, encode, link.get(), l.has_refiner() ? &refiner : nullptr);
  pipeline::RingStageBase& ring = *stage_ptr;
  ring.stats.trace = trace;
  ring.set_ring_latency(ring_latency_s);
  ring.set_fault_items(fault.items);
  std::unique_ptr<Coordinator> coord;
  if (t.rank() == 0) coord = std::make_unique<Coordinator>(std::move(*job.prepared), t, job.coord);
  const auto t_render = std::chrono::steady_clock::now();
  const double loop_begin = comm::steady_clock_s();
  // A rank stuck inside one unit of work ends the job: nothing it could
  // finish is lost (every written image is journaled), and a rerun resumes.
  Watchdog watchdog(job.stall_timeout_s, [&t](const std::string& what, double secs) {
    std::fprintf(stderr, "farm: error: rank %d (host %s) stalled: %s for %.0f s (--stall-timeout); ending the job. "
                 "Written images are journaled: rerun the same command to resume\n", t.rank(), t.host().c_str(),
                 what.c_str(), secs);
    t.abort_job(1);
  });
  const auto blocks_of = [](const char* unet, std::pair<size_t, size_t> r) {
    return r.first == r.second ? cat("no ", unet, " blocks") : cat(unet, " blocks ", r.first, "-", r.second - 1);
  };
  const std::string unit = cat("computing (stage ", stage, ": ", blocks_of(zimage ? "DiT" : "UNet", l.ranges[stage]),
                               l.has_refiner() ? ", " + blocks_of("refiner UNet", l.refiner_ranges[stage]) : "",
                               last ? ", VAE decode" : "", ")");
  const double beat_every = std::min(2.0, job.stall_timeout_s / 4);
  auto last_beat = std::chrono::steady_clock::now() - std::chrono::hours(1), last_note = last_beat;
  auto heartbeat = [&] {
    if (seconds_since(last_beat) < beat_every) return;
    last_beat = std::chrono::steady_clock::now();
    nlohmann::json batches = nlohmann::json::array();
    for (const auto& b : ring.progress()) batches.push_back({b.id, b.step, b.steps, b.items});
    nlohmann::json h = {{"rank", t.rank()}, {"host", t.host()}, {"stage", stage}, {"doing", watchdog.doing()},
                        {"busy_s", ring.stats.busy_s}, {"passes", ring.stats.unet_passes}, {"batches", batches}};
    if (coord) coord->on_local_progress(h);
    else t.send(0, RingTag::kProgress, comm::WireWriter(h).take());
  };
  bool shutdown = false, failed = false, signalled = false;
  auto dispatch = [&](comm::Message m) {
    switch (m.tag) {
      case RingTag::kShutdown: shutdown = true; break;
      case RingTag::kRequest:
      case RingTag::kDone:
      case RingTag::kFail:
      case RingTag::kProgress:
        FARM_ASSERT(coord, "coordinator message (tag ", m.tag, ") on rank ", t.rank());
        coord->on_message(m);
        break;
      default:
        if (!failed) ring.on_message(std::move(m));
    }
  };
  while (!shutdown) {
    try {
      if (const int sig = stop_signal(); sig && !signalled) {
        signalled = failed = true;  // computes nothing more; waits for the coordinator's shutdown
        if (coord) coord->on_signal(sig, t.rank(), t.host());
        else t.send(0, RingTag::kFail, comm::WireWriter(nlohmann::json{{"rank", t.rank()}, {"host", t.host()},
                                                                       {"error", "interrupted"}, {"signal", sig}})
                                           .take());
      }
      heartbeat();
      if (coord && seconds_since(last_note) >= 0.25) {
        // mpirun sends SIGTERM (then SIGKILL) when it lost a rank or a host's
        // daemon; its own message may name an address only.
        last_note = std::chrono::steady_clock::now();
        set_signal_note(cat("farm: SIGTERM on rank 0 (host ", t.host(), "); what it last heard from each rank:\n",
                            coord->last_heard()));
      }
      if (coord) {
        coord->tick();
        if (!coord->stalled().empty()) {
          print_error(coord->stalled());
          coord->print_end();
          t.abort_job(1);
        }
      }
      if (!failed) ring.request_work();
      while (auto m = t.poll()) dispatch(std::move(*m));
      if (shutdown) break;
      if (!failed) {
        watchdog.enter(unit);
        const bool worked = ring.work();
        watchdog.leave();
        if (worked) {
          if (t.rank() == fault.rank && ring.stats.unet_passes >= fault.passes) {
            if (fault.hang) {
              watchdog.enter(cat(unit, " (FARM_FAULT hang)"));
              for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
            }
            fail("injected fault after ", ring.stats.unet_passes, " UNet passes (FARM_FAULT)");
          }
          continue;
        }
      }
      if (auto m = t.wait_for(beat_every / 2)) dispatch(std::move(*m));
    } catch (const std::exception& e) {
      watchdog.leave();
      // Stop computing, tell the coordinator, and wait for its shutdown.
      failed = true;
      if (coord) coord->on_local_failure(e.what());
      else t.send(0, RingTag::kFail,
                  comm::WireWriter(nlohmann::json{{"rank", t.rank()}, {"host", t.host()}, {"error", e.what()}}).take());
    }
  }
  const double render_s = seconds_since(t_render);
  const double loop_end = comm::steady_clock_s();
  last_beat = {};
  heartbeat();  // rank 0's final figures for the metrics file
  // Device sends still on their way (their receives are posted: every state
  // was taken in); after a failure the link aborts instead.
  for (int i = 0; link && !failed && !link->sends_done() && i < 100000; ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  if (backend) {
    ring.stats.device = backend->counters();
    ring.stats.weights_placed = backend->weight_tensors();
    ring.stats.weight_bytes_placed = backend->weight_bytes();
    ring.stats.reserved_bytes = backend->reserved_memory();
    ring.stats.peak_bytes = backend->peak_memory();
    ring.stats.op_times = backend->op_times();
  }

  // 3. Statistics to rank 0, then a clean end: no rank leaves a peer blocked.
  nlohmann::json mine = stats_json(t, l, ring.stats, load_s, weights);
  mine["denoiser"] = zimage ? "DiT" : "UNet";
  if (l.has_refiner()) {  // its share of the refiner too
    mine["refiner_blocks"] = l.refiner_ranges[static_cast<size_t>(stage)];
    for (const auto& [key, bytes] : {std::pair{"weight_bytes", refiner.weight_bytes},
                                     {"weight_bytes_read", refiner.weight_bytes_read},
                                     {"weight_bytes_received", refiner.weight_bytes_received}})
      mine[key] = mine[key].get<size_t>() + bytes;
  }
  if (trace) mine.update(rank_trace_json(ring.stats, t.rank(), loop_begin, loop_end));
  const auto all = t.gather(comm::WireWriter(mine).take(), 0);
  t.drain();
  int code = 0;
  if (coord) {
    std::vector<nlohmann::json> ranks;
    for (size_t r = 0; r < all.size(); ++r) ranks.push_back(comm::WireReader(all[r], "statistics").header());
    if (trace) align_rank_traces(ranks, clocks);  // --stats and --trace on rank 0's clock
    if (!coord->failure().empty()) print_error(coord->failure());
    coord->print_end();
    print_summary(ranks, render_s, coord->images_written());
    code = coord->exit_code();
    if (job.archive && code != kJobError && !coord->signal()) job.archive->finish(now_utc());
    write_file_atomic((std::filesystem::path(job.out_dir) / "report.json").string(),
                      job_report(*coord, l, ranks, render_s, seconds_since(t_load), code).dump(1) + "\n");
    if (!job.stats_file.empty()) {
      std::ofstream(job.stats_file) << nlohmann::json{{"render_s", render_s},
                                                      {"images", coord->images_written()},
                                                      {"pipelines", l.pipelines},
                                                      {"stages", l.stages},
                                                      {"window", l.in_flight_limit()},
                                                      {"ranks", ranks}}
                                           .dump(1);
    }
    if (!job.trace_file.empty()) write_chrome_trace(job.trace_file, ranks);
  }
  code = t.broadcast(comm::Bytes{static_cast<uint8_t>(code)}, 0).at(0);
  // After a failure a peer may never take a device send still in flight.
  if (link && code != 0) link->abandon();
  return code;
}

}  // namespace farm::launcher
