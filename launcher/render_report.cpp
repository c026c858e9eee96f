#include "launcher/render_report.h"

#include <algorithm>
#include <cstdio>

#include "farm/core/error.h"

namespace farm::launcher {

namespace {

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

void print_summary(const std::vector<nlohmann::json>& ranks, double secs, size_t images) {
  std::fprintf(stderr, "farm: %zu images in %.1f s (%.3f images/s)\n", images, secs,
               secs > 0 ? static_cast<double>(images) / secs : 0.0);
  const auto range = [](const nlohmann::json& b) {
    const int first = b[0].get<int>(), end = b[1].get<int>();
    return first == end ? std::string("-") : std::to_string(first) + "-" + std::to_string(end - 1);
  };
  for (const auto& r : ranks) {
    const double passes = std::max<double>(1, r["unet_passes"].get<double>());
    const std::string blocks =
        range(r["blocks"]) + (r.contains("refiner_blocks") ? ", refiner blocks " + range(r["refiner_blocks"]) : "");
    // With a refiner, the base's and the refiner's passes apart.
    const double ref_passes = r.value("refiner_passes", 0.0), ref_s = r.value("refiner_unet_s", 0.0);
    // A stage with no blocks of a model only passes that model's steps on: "-".
    const auto holds = [](const nlohmann::json& b) { return b[0].get<int>() != b[1].get<int>(); };
    std::string unet = cat(r.value("denoiser", std::string("UNet")), " ", holds(r["blocks"]) && r["unet_passes"].get<double>() > ref_passes
                                        ? fixed3((r["unet_s"].get<double>() - ref_s) / std::max(1.0, passes - ref_passes))
                                        : std::string("-"), " s/pass");
    if (r.contains("refiner_blocks"))
      unet += cat(", refiner ", holds(r["refiner_blocks"]) && ref_passes > 0 ? fixed3(ref_s / ref_passes)
                                                                             : std::string("-"), " s/pass");
    std::fprintf(stderr,
                 "  rank %d (%s) pipeline %d stage %d blocks %s: busy %.0f%%, %s, text %.2f s, VAE "
                 "%.2f s, sent %.1f MB, weights %.1f MB loaded in %.1f s, peak RSS %.0f MB\n",
                 r["rank"].get<int>(), r["host"].get<std::string>().c_str(), r["pipeline"].get<int>(),
                 r["stage"].get<int>(), blocks.c_str(),
                 secs > 0 ? 100.0 * r["busy_s"].get<double>() / secs : 0.0, unet.c_str(),
                 r["text_s"].get<double>(), r["vae_s"].get<double>(), r["bytes_sent"].get<double>() / 1e6,
                 r["weight_bytes"].get<double>() / 1e6, r["load_s"].get<double>(), r.value("peak_rss_mb", 0.0));
  }
}

nlohmann::json job_report(const Coordinator& c, const pipeline::RingLayout& l, const std::vector<nlohmann::json>& ranks,
                          double render_s, double wall_s, int exit_code) {
  const PreparedJob& job = c.job();
  nlohmann::json stages = nlohmann::json::array();
  double bytes_sent = 0;
  for (int st = 0; st < l.stages; ++st) {
    double busy = 0;
    int n = 0;
    for (const auto& r : ranks)
      if (r.at("stage").get<int>() == st) busy += r.at("busy_s").get<double>(), ++n;
    const double frac = n && render_s > 0 ? busy / n / render_s : 0;
    stages.push_back({{"stage", st},
                      {"blocks", {l.ranges[static_cast<size_t>(st)].first, l.ranges[static_cast<size_t>(st)].second}},
                      {"refiner_blocks", l.has_refiner() ? nlohmann::json(l.refiner_ranges[static_cast<size_t>(st)])
                                                         : nlohmann::json()},
                      {"busy_fraction", frac},
                      {"bubble_fraction", std::max(0.0, 1 - frac)}});
  }
  for (const auto& r : ranks) bytes_sent += r.at("bytes_sent").get<double>();
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : c.item_failures())
    failures.push_back({{"index", f.index}, {"source", f.source}, {"line", f.line}, {"reason", f.reason}});
  const size_t images = c.images_written();
  return {{"model", job.model_name},
          {"job_seed", job.job_seed},
          {"run", job.run},
          {"items", job.items.size()},
          {"already_done", job.already_done},
          {"rendered", images},
          {"failed", c.item_failures().size()},
          {"not_rendered", job.items.size() - job.already_done - images - c.item_failures().size()},
          {"exit_code", exit_code},
          {"stopped", c.failure().empty() ? c.stalled() : c.failure()},
          {"signal", c.signal()},
          {"wall_s", wall_s},
          {"render_s", render_s},
          {"images_per_s", render_s > 0 ? static_cast<double>(images) / render_s : 0.0},
          {"layout", {{"pipelines", l.pipelines}, {"stages", l.stages}, {"window", l.in_flight_limit()}}},
          {"stages", stages},
          {"bytes_sent", bytes_sent},
          {"failures", failures}};
}

}  // namespace farm::launcher
