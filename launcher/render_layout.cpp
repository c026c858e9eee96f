#include "launcher/render_layout.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "farm/core/error.h"
#include "partition/partitioner.h"

#include <algorithm>

namespace farm::launcher {

namespace {

pipeline::RingLayout from_plan(const partition::Plan& p, int window) {
  pipeline::RingLayout l;
  l.pipelines = p.pipelines;
  l.stages = p.stages;
  for (const auto& s : p.stage) {
    l.ranges.emplace_back(s.begin, s.end);
    l.stage_memory_bytes.push_back(s.memory_bytes);
    l.longest_unit_s = std::max({l.longest_unit_s, s.block_s, s.text_s, s.vae_s / std::max(1, p.vae_parts)});
  }
  l.window = window > 0 ? window : p.window;
  l.window_fixed = window > 0;
  return l;
}

}  // namespace

pipeline::RingLayout choose_layout(const std::string& model_dir, const LayoutRequest& req, const JobItem& first) {
  const auto shape = partition::ModelShape::from_folder(model_dir);
  const size_t blocks = shape.blocks.size();
  partition::Plan plan;
  if (!req.plan_file.empty()) {
    if (req.stages || req.pipelines) fail("--plan ", req.plan_file, ": give either a plan file or --stages/--pipelines");
    std::ifstream in(req.plan_file);
    if (!in) fail(req.plan_file, ": cannot open the plan file");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) fail(req.plan_file, ": not JSON (expected the output of `farm plan --json`)");
    plan = partition::Plan::from_json(j, req.plan_file);
    if (plan.blocks != blocks)
      fail(req.plan_file, ": field 'blocks': the plan is for a UNet of ", plan.blocks, " blocks; ", model_dir, " has ",
           blocks);
    if (plan.pipelines * plan.stages != req.ranks)
      fail(req.plan_file, ": the plan needs ", plan.pipelines, " x ", plan.stages, " = ", plan.pipelines * plan.stages,
           " ranks; this job has ", req.ranks);
  } else {
    partition::Workload w;
    const int64_t f = int64_t{1} << (shape.vae.block_out_channels.size() - 1);
    w.latent_h = first.height / f;
    w.latent_w = first.width / f;
    w.items = req.batch;
    w.guidance = first.guidance > 1.0f;
    w.steps = first.steps;
    partition::DeviceProfile device = partition::device_profile(req.device);
    // A CPU rank's memory is its node's, not the profile's round 16 GB (SDXL
    // at 1024² in fp32 needs more): the RAM of this host, as each rank's cap.
    if (req.device == "cpu") {
      const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
      if (pages > 0 && page > 0) device.memory_bytes = static_cast<double>(pages) * static_cast<double>(page);
    }
    const auto costs = partition::estimate_costs(shape, w, device);
    partition::PlanOptions o;
    o.window = req.window;
    int S = req.stages, P = req.pipelines;
    if (S && P && S * P != req.ranks)
      fail("--pipelines ", P, " x --stages ", S, " = ", P * S, " ranks; this job has ", req.ranks);
    if (S && req.ranks % S) fail("--stages ", S, ": does not divide the ", req.ranks, " ranks");
    if (P && req.ranks % P) fail("--pipelines ", P, ": does not divide the ", req.ranks, " ranks");
    if (S && static_cast<size_t>(S) > blocks) fail("--stages ", S, ": the UNet has only ", blocks, " blocks");
    if (S || P) {
      if (!S) S = req.ranks / P;
      if (!P) P = req.ranks / S;
      plan = partition::partition(costs, P, S, o);
    } else {
      plan = partition::plans_for_ranks(costs, req.ranks, o).at(0);
    }
  }
  auto layout = from_plan(plan, req.window);
  layout.check(blocks, req.plan_file.empty() ? "layout" : req.plan_file);
  std::fprintf(stderr, "farm: %d rank%s as %d pipeline%s x %d stage%s, %d micro-batch%s in flight per pipeline\n",
               req.ranks, req.ranks == 1 ? "" : "s", layout.pipelines, layout.pipelines == 1 ? "" : "s", layout.stages,
               layout.stages == 1 ? "" : "s", layout.in_flight_limit(), layout.in_flight_limit() == 1 ? "" : "es");
  if (layout.stages > 1)
    for (int s = 0; s < layout.stages; ++s) {
      const auto [b, e] = layout.ranges[s];
      std::fprintf(stderr, "  stage %d: blocks %zu-%zu (%s .. %s)%s%s\n", s, b, e - 1, shape.blocks[b].name.c_str(),
                   shape.blocks[e - 1].name.c_str(), s == 0 ? " + text encoder" : "",
                   s == layout.stages - 1 ? " + VAE decode" : "");
    }
  return layout;
}

}  // namespace farm::launcher
