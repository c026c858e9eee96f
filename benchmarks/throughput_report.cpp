// The distributed render's throughput next to the schedule simulator's
// prediction for the same plan (issue 3, item 8). Reads the plan the run
// used (`farm plan --calibrate --json`) and the run's statistics
// (`farm render --stats`), and prints one row: measured images/s, per-stage
// busy fraction and bubble fraction in the steady-state window, state bytes
// sent per micro-batch step; beside them the simulator's figures twice:
//  * "plan": the plan's calibrated block times (one rank alone on the CPU),
//    scaled by ranks / cores when the ranks oversubscribe the cores;
//  * "run": the same plan re-timed with the stage times this run measured
//    (compute per pass, text per admission, VAE + PNG per finish, message
//    encode/decode), which checks the schedule model itself; across hosts
//    also the link latency the run measured (each hop: its ring round / S)
//    and the window stage 0 grew to.
// Last, the tensor bytes each stage sent beside the plan's count for the same
// work, which must agree to the byte (sent_bytes_plan below).
// With --json FILE it also writes the row's figures there (tools/gpu/check.sh's
// P x S table reads them through tools/gpu/report.py).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "farm/core/error.h"
#include "partition/simulator.h"

using farm::partition::Plan;
using nlohmann::json;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) farm::fail(path, ": cannot open");
  return json::parse(in);
}

// What the plan says a rank sent over the job (tensor payload bytes,
// partition/stage_traffic.h): send_bytes for every UNet pass except a
// micro-batch's final one through the last stage (no return follows it),
// plus send_bytes_once per micro-batch admitted (stage 0's batch messages).
double sent_bytes_plan(const farm::partition::StagePlan& sp, const json& r, bool last) {
  const double passes = r["unet_passes"].get<double>(), finished = r["finished"].get<double>();
  return (passes - (last ? finished : 0)) * sp.send_bytes + r["admitted"].get<double>() * sp.send_bytes_once;
}

double overlap(const json& busy, double a, double b) {
  double t = 0;
  for (const auto& iv : busy) t += std::max(0.0, std::min(iv[1].get<double>(), b) - std::max(iv[0].get<double>(), a));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  std::string json_out;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--json" && i + 1 < argc) json_out = argv[++i];
    else args.push_back(argv[i]);
  }
  if (args.size() < 3 || args.size() > 4) {
    // CORES: how many ranks share the cores the plan was calibrated on; GPU
    // runs pass the rank count (one device each, nothing shared).
    std::fprintf(stderr, "usage: %s LABEL PLAN.json STATS.json [CORES] [--json OUT.json]\n", argv[0]);
    return 2;
  }
  try {
    const std::string label = args[0];
    Plan plan = Plan::from_json(read_json(args[1]), args[1]);
    const json st = read_json(args[2]);
    const int cores = args.size() > 3 ? std::stoi(args[3]) : static_cast<int>(std::thread::hardware_concurrency());
    const int S = st["stages"], P = st["pipelines"];
    const double render_s = st["render_s"], images = st["images"];
    // Pipeline 0's ranks, by stage.
    std::vector<json> rank(static_cast<size_t>(S));
    int64_t micro_batches = 0;
    for (const auto& r : st["ranks"]) {
      if (r["stage"] == 0) micro_batches += r["admitted"].get<int64_t>();
      if (r["pipeline"] == 0) rank[r["stage"].get<size_t>()] = r;
    }
    // Steady-state window as the simulator defines it: first completion .. last admission (pipeline 0).
    const auto& adm = rank[0]["admissions"];
    const auto& done = rank[static_cast<size_t>(S - 1)]["completions"];
    double a = *std::min_element(done.begin(), done.end()), b = adm.back().get<double>();
    double t0 = adm.front().get<double>(), t1 = *std::max_element(done.begin(), done.end());
    if (!(b > a)) a = t0, b = t1;
    std::vector<double> busy;
    double mean_busy = 0;
    for (int s = 0; s < S; ++s) {
      busy.push_back(overlap(rank[static_cast<size_t>(s)]["busy"], a, b) / (b - a));
      mean_busy += busy.back() / S;
    }

    farm::partition::SimOptions o;
    o.micro_batches = static_cast<int>(micro_batches);
    // "plan": calibrated one-rank times, slowed by how many ranks share each core.
    Plan scaled = plan;
    const double share = std::max(1.0, static_cast<double>(P * S) / cores);
    for (auto& sp : scaled.stage)
      sp.block_s *= share, sp.text_s *= share, sp.vae_s *= share, sp.send_s *= share, sp.send_once_s *= share;
    const auto sim_plan = farm::partition::simulate(scaled, o);
    // "run": stage times as measured in this run.
    Plan measured = plan;
    measured.overlap_transfers = false;  // the CPU encodes and copies each message itself
    for (int s = 0; s < S; ++s) {
      const auto& r = rank[static_cast<size_t>(s)];
      const double passes = std::max(1.0, r["unet_passes"].get<double>());
      auto& sp = measured.stage[static_cast<size_t>(s)];
      sp.block_s = r["unet_s"].get<double>() / passes;
      sp.text_s = r["admitted"].get<double>() > 0 ? r["text_s"].get<double>() / r["admitted"].get<double>() : 0;
      sp.vae_s = r["finished"].get<double>() > 0
                     ? (r["vae_s"].get<double>() + r["encode_s"].get<double>()) / r["finished"].get<double>()
                     : 0;
      sp.send_s = S > 1 ? r["wire_s"].get<double>() / passes : 0;
      sp.send_once_s = 0;  // wire_s holds every send, the batch messages too
    }
    // Between hosts: each hop also takes the link's latency (farm measured the
    // ring's round at start-up: ring_latency_s over S hops), and stage 0 kept
    // the window it grew to cover it.
    farm::partition::SimOptions o_run = o;
    if (rank[0].contains("ring_latency_s") && S > 1)
      for (auto& sp : measured.stage) sp.hop_s = rank[0]["ring_latency_s"].get<double>() / S;
    if (rank[0].contains("window") && rank[0]["window"].get<int>() > 0) o_run.window = rank[0]["window"].get<int>();
    const auto sim_run = farm::partition::simulate(measured, o_run);

    const double ips = images / render_s;
    std::printf("%-22s %dx%d  %8.3f | %8.3f (%+5.1f%%) | %8.3f (%+5.1f%%) | bubble %5.1f%% vs %5.1f%% / %5.1f%% |", label.c_str(),
                P, S, ips, sim_plan.images_per_s, 100 * (ips / sim_plan.images_per_s - 1), sim_run.images_per_s,
                100 * (ips / sim_run.images_per_s - 1), 100 * (1 - mean_busy), 100 * sim_plan.bubble,
                100 * sim_run.bubble);
    std::printf(" busy%%");
    for (int s = 0; s < S; ++s) std::printf(" %.0f/%.0f", 100 * busy[static_cast<size_t>(s)], 100 * sim_run.busy_steady[static_cast<size_t>(s)]);
    std::printf(" | MB/step");
    std::vector<double> sent_per_step, plan_per_step;
    for (int s = 0; s < S; ++s) {
      const auto& r = rank[static_cast<size_t>(s)];
      sent_per_step.push_back(r["states_sent"].get<double>() > 0
                                  ? r["state_bytes_sent"].get<double>() / r["states_sent"].get<double>()
                                  : 0);
      plan_per_step.push_back(plan.stage[static_cast<size_t>(s)].send_bytes);
      std::printf(" %.3f/%.3f", sent_per_step.back() / 1e6, plan_per_step.back() / 1e6);
    }
    // Every rank of every pipeline is checked; pipeline 0's are printed.
    // Runs from before the ring counted tensor bytes have no "tensor_bytes_sent".
    bool counted = true, match = true;
    for (const auto& r : st["ranks"]) {
      if (!r.contains("tensor_bytes_sent")) {
        counted = false;
        continue;
      }
      const int s = r["stage"].get<int>();
      const double want = sent_bytes_plan(plan.stage[static_cast<size_t>(s)], r, s == S - 1);
      if (std::abs(r["tensor_bytes_sent"].get<double>() - want) > 0.5) match = false;
    }
    std::printf(" | sent MB meas/plan");
    json sent_measured = json::array(), sent_plan = json::array();  // pipeline 0, bytes; null: not counted
    for (int s = 0; s < S; ++s) {
      const auto& r = rank[static_cast<size_t>(s)];
      const double want = sent_bytes_plan(plan.stage[static_cast<size_t>(s)], r, s == S - 1);
      sent_plan.push_back(want);
      sent_measured.push_back(r.contains("tensor_bytes_sent") ? r["tensor_bytes_sent"] : json());
      if (r.contains("tensor_bytes_sent"))
        std::printf(" %.3f/%.3f", r["tensor_bytes_sent"].get<double>() / 1e6, want / 1e6);
      else std::printf(" n/a/%.3f", want / 1e6);
    }
    const char* verdict = !counted ? "n/a" : match ? "ok" : "MISMATCH";
    std::printf(" %s", verdict);
    std::printf(" | peak RSS MB");  // each stage's process: its share of the weights and its working memory
    for (int s = 0; s < S; ++s) {
      const auto& r = rank[static_cast<size_t>(s)];
      if (r.contains("peak_rss_mb")) std::printf(" %.0f", r["peak_rss_mb"].get<double>());
      else std::printf(" n/a");
    }
    std::printf("\n");
    if (!json_out.empty()) {
      const json row = {
          {"label", label}, {"pipelines", P}, {"stages", S}, {"images", images}, {"render_s", render_s},
          {"micro_batches", micro_batches}, {"cores", cores},
          {"measured", {{"images_per_s", ips}, {"bubble", 1 - mean_busy}, {"busy", busy},
                        {"state_bytes_per_step", sent_per_step}, {"tensor_bytes_sent", sent_measured},
                        {"tensor_bytes_vs_plan", verdict}}},
          // What `farm plan` printed (its own micro-batch count), then the same costs and the run's stage times
          // replayed for this job's micro-batches.
          {"plan", {{"images_per_s", plan.images_per_s}, {"bubble", plan.bubble},
                    {"send_bytes_per_step", plan_per_step}, {"tensor_bytes_sent", sent_plan}}},
          {"sim_plan", {{"images_per_s", sim_plan.images_per_s}, {"bubble", sim_plan.bubble},
                        {"busy", sim_plan.busy_steady}}},
          {"sim_run", {{"images_per_s", sim_run.images_per_s}, {"bubble", sim_run.bubble},
                       {"busy", sim_run.busy_steady}}}};
      std::ofstream out(json_out);
      out << row.dump(1) << "\n";
      if (!out) farm::fail(json_out, ": cannot write");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "throughput_report: %s\n", e.what());
    return 1;
  }
  return 0;
}
