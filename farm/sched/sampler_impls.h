// Constructors of the concrete samplers, for make_sampler (sampler.cpp).
#pragma once

#include <memory>

#include "farm/sched/sampler.h"

namespace farm::sched {

std::unique_ptr<Sampler> make_ddim(const SchedulerConfig& cfg, int steps);
std::unique_ptr<Sampler> make_euler(const SchedulerConfig& cfg, int steps, bool karras, bool ancestral);
std::unique_ptr<Sampler> make_dpmpp_2m(const SchedulerConfig& cfg, int steps, bool karras);

// diffusers starts at the second match when the first timestep repeats,
// which runs off the end of its schedule: refuse such schedules up front.
void check_schedule(const std::vector<float>& timesteps, const SchedulerConfig& cfg, const char* sampler, int steps);

}  // namespace farm::sched
