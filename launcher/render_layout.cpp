#include "launcher/render_layout.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "farm/core/error.h"
#include "partition/cost_model.h"
#include "partition/model_shape.h"
#include "partition/partitioner.h"
#include "partition/refiner_plan.h"

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

namespace {

// The caption length a DiT's plan is costed at: a typical prompt in Qwen3's
// chat template (the template alone is 14 tokens; 512 at most).
constexpr int64_t kDitCaptionTokens = 128;

partition::Workload workload_of(const partition::ModelShape& shape, const LayoutRequest& req, const JobItem& first) {
  partition::Workload w;
  const int64_t f = int64_t{1} << (shape.vae.block_out_channels.size() - 1);
  w.latent_h = first.height / f;
  w.latent_w = first.width / f;
  w.items = req.batch;
  w.guidance = shape.dit ? first.guidance > 0.0f : first.guidance > 1.0f;  // Z-Image's g: CFG above 0
  w.steps = first.steps;
  if (shape.dit) w.text_len = kDitCaptionTokens;
  return w;
}

partition::DeviceProfile device_of(const LayoutRequest& req) {
  partition::DeviceProfile device = partition::device_profile(req.device);
  // A CPU rank's memory is its node's, not the profile's round 16 GB (SDXL
  // at 1024² in fp32 needs more): the RAM of this host, as each rank's cap.
  if (req.device == "cpu") {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) device.memory_bytes = static_cast<double>(pages) * static_cast<double>(page);
  }
  return device;
}

// The refiner's ranges (partition/refiner_plan.h): spread over the base's
// P x S, or with --refiner-stages R the base re-planned on the first S - R
// stages and the refiner on the last R.
void place_refiner(pipeline::RingLayout& layout, const partition::ModelCosts& base_costs, const LayoutRequest& req,
                   const JobItem& first) {
  const auto shape = partition::ModelShape::from_folder(req.refiner_dir);
  if (!shape.refiner) fail("--refiner ", req.refiner_dir, ": not an SDXL refiner (model_index.json ",
                           "requires_aesthetics_score)");
  const auto costs = partition::estimate_costs(shape, workload_of(shape, req, first), device_of(req));
  partition::PlanOptions o;
  o.window = req.window;
  const int base_steps = static_cast<int>(std::lround(first.refiner_switch * first.steps));
  const auto r = partition::place_with_refiner(base_costs, costs, layout.pipelines, layout.stages, req.refiner_stages,
                                               base_steps, first.steps - base_steps, o);
  layout.ranges = r.base_ranges;
  layout.refiner_ranges = r.refiner_ranges;
  layout.stage_memory_bytes = r.stage_memory_bytes;
}

template <class Block>
std::string blocks_text(const std::vector<Block>& blocks, std::pair<size_t, size_t> r) {
  if (r.first == r.second) return "-";
  return cat(r.first, "-", r.second - 1, " (", blocks[r.first].name, " .. ", blocks[r.second - 1].name, ")");
}

}  // namespace

pipeline::RingLayout choose_layout(const std::string& model_dir, const LayoutRequest& req, const JobItem& first) {
  const auto shape = partition::ModelShape::from_folder(model_dir);
  const partition::DeviceProfile device = device_of(req);
  const auto costs = partition::estimate_costs(shape, workload_of(shape, req, first), device);
  const size_t blocks = costs.blocks.size();  // the denoiser's: UNet or DiT
  partition::Plan plan;
  if (!req.plan_file.empty()) {
    if (req.stages || req.pipelines) fail("--plan ", req.plan_file, ": give either a plan file or --stages/--pipelines");
    if (!req.refiner_dir.empty())
      fail("--plan ", req.plan_file, ": a plan file places one model; with a refiner give --stages/--pipelines ",
           "(and --refiner-stages)");
    std::ifstream in(req.plan_file);
    if (!in) fail(req.plan_file, ": cannot open the plan file");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) fail(req.plan_file, ": not JSON (expected the output of `farm plan --json`)");
    plan = partition::Plan::from_json(j, req.plan_file);
    if (plan.blocks != blocks)
      fail(req.plan_file, ": field 'blocks': the plan is for a denoiser of ", plan.blocks, " blocks; ", model_dir,
           " has ", blocks);
    if (plan.pipelines * plan.stages != req.ranks)
      fail(req.plan_file, ": the plan needs ", plan.pipelines, " x ", plan.stages, " = ", plan.pipelines * plan.stages,
           " ranks; this job has ", req.ranks);
  } else {
    partition::PlanOptions o;
    o.window = req.window;
    int S = req.stages, P = req.pipelines;
    if (S && P && S * P != req.ranks)
      fail("--pipelines ", P, " x --stages ", S, " = ", P * S, " ranks; this job has ", req.ranks);
    if (S && req.ranks % S) fail("--stages ", S, ": does not divide the ", req.ranks, " ranks");
    if (P && req.ranks % P) fail("--pipelines ", P, ": does not divide the ", req.ranks, " ranks");
    if (S && static_cast<size_t>(S) > blocks)
      fail("--stages ", S, ": the ", shape.dit ? "DiT" : "UNet", " has only ", blocks, " blocks");
    if (!S && !P && req.refiner_stages) P = 1;  // base and refiner apart: one pipeline over every rank by default
    if (S || P) {
      if (!S) S = req.ranks / P;
      if (!P) P = req.ranks / S;
      plan = partition::partition(costs, P, S, o);
    } else {
      plan = partition::plans_for_ranks(costs, req.ranks, o).at(0);
    }
  }
  auto layout = from_plan(plan, req.window);
  std::vector<model::UNetBlockDesc> refiner_blocks;
  if (!req.refiner_dir.empty()) {
    place_refiner(layout, costs, req, first);
    refiner_blocks = partition::ModelShape::from_folder(req.refiner_dir).blocks;
  }
  layout.check(blocks, req.plan_file.empty() ? "layout" : req.plan_file, refiner_blocks.size());
  std::fprintf(stderr, "farm: %d rank%s as %d pipeline%s x %d stage%s, %d micro-batch%s in flight per pipeline\n",
               req.ranks, req.ranks == 1 ? "" : "s", layout.pipelines, layout.pipelines == 1 ? "" : "s", layout.stages,
               layout.stages == 1 ? "" : "s", layout.in_flight_limit(), layout.in_flight_limit() == 1 ? "" : "es");
  if (layout.stages > 1)
    for (int s = 0; s < layout.stages; ++s) {
      std::fprintf(stderr, "  stage %d: blocks %s%s%s%s\n", s, blocks_text(costs.blocks, layout.ranges[s]).c_str(),
                   layout.has_refiner() ? cat(", refiner blocks ", blocks_text(refiner_blocks, layout.refiner_ranges[s])).c_str() : "",
                   s == 0 ? " + text encoder" : "", s == layout.stages - 1 ? " + VAE decode" : "");
    }
  return layout;
}

}  // namespace farm::launcher
