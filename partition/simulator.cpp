#include "partition/simulator.h"

#include <algorithm>
#include <deque>
#include <limits>

#include "farm/core/error.h"

namespace farm::partition {

namespace {

struct Message {
  double arrival;
  int64_t micro_batch;
  int step;
};

struct Interval {
  double begin, end;
};

double overlap(const std::vector<Interval>& busy, double a, double b) {
  double t = 0;
  for (const auto& i : busy) t += std::max(0.0, std::min(i.end, b) - std::max(i.begin, a));
  return t;
}

}  // namespace

SimResult simulate(const Plan& p, const SimOptions& o) {
  const int S = p.stages, T = p.workload.steps, P = p.pipelines;
  FARM_ASSERT(S >= 1 && static_cast<int>(p.stage.size()) == S && T >= 1 && P >= 1, "simulate: bad plan");
  FARM_ASSERT(o.micro_batches >= 1, "simulate: no micro-batches");
  const int window = o.window > 0 ? o.window : resolve_window(p.window, S);
  const int64_t mine = o.micro_batches / P + (o.micro_batches % P > 0 ? 1 : 0);  // pipeline 0 has the most
  constexpr double kNever = std::numeric_limits<double>::infinity();

  std::vector<std::deque<Message>> inbox(static_cast<size_t>(S));
  std::vector<double> free_at(static_cast<size_t>(S), 0.0);
  std::vector<std::vector<Interval>> busy(static_cast<size_t>(S));
  int64_t admitted = 0, in_flight = 0;
  SimResult r;
  double last_admit = 0;
  // The last stage's decodes: parts left per decode (oldest first), and the
  // parts it may run before its next UNet pass (ceil(parts / steps) after each).
  const int parts = std::max(1, p.vae_parts);
  const double part_s = p.stage[static_cast<size_t>(S - 1)].vae_s / parts;
  std::deque<int> decodes;
  int credit = 0;
  enum class Act { none, pass, admit, part };

  for (;;) {
    // Each stage's next action and its start time, in the ring's priority
    // order: a decode part it owes, a state that has arrived, an admission
    // (stage 0), a decode part instead of idling, the next state to arrive.
    // On equal start times a later stage goes first: whatever it sends
    // arrives no earlier than that time, so when stage 0 decides, every
    // return that has arrived by then is known.
    int next = -1;
    double start = kNever;
    Act act = Act::none;
    for (int st = S - 1; st >= 0; --st) {
      const auto& in = inbox[static_cast<size_t>(st)];
      const double f = free_at[static_cast<size_t>(st)];
      const bool last = st == S - 1;
      double t = kNever;
      Act a = Act::none;
      if (last && !decodes.empty() && credit > 0) t = f, a = Act::part;
      else if (!in.empty() && in.front().arrival <= f) t = f, a = Act::pass;
      else if (st == 0 && in_flight < window && admitted < mine) t = f, a = Act::admit;
      else if (last && !decodes.empty()) t = f, a = Act::part;
      else if (!in.empty()) t = in.front().arrival, a = Act::pass;
      if (t < start) start = t, next = st, act = a;
    }
    if (next < 0) break;

    const auto s = static_cast<size_t>(next);
    if (act == Act::part) {
      if (credit > 0) --credit;
      const double finish = start + part_s;
      if (--decodes.front() == 0) {
        decodes.pop_front();
        r.completed_s.push_back(finish);
        r.makespan_s = std::max(r.makespan_s, finish);
      }
      free_at[s] = finish;
      busy[s].push_back({start, finish});
      continue;
    }
    Message m;
    double work = p.stage[s].block_s;
    if (act == Act::admit) {
      m = {start, admitted++, 0};
      ++in_flight;
      last_admit = start;
      work += p.stage[0].text_s;
    } else {
      m = inbox[s].front();
      inbox[s].pop_front();
    }
    const bool final_step = m.step == T - 1;
    const double finish = start + work;
    if (next == 0 && final_step) --in_flight;

    double busy_end = finish;
    if (next == S - 1) {
      credit = (parts + T - 1) / T;
      if (final_step) decodes.push_back(parts);
    }
    if (!(next == S - 1 && final_step)) {
      double send = S > 1 ? p.stage[s].send_s : 0.0;
      // Stage 0 sends a new micro-batch's batch messages (the context) right
      // after encoding it, ahead of the hidden state on the same link.
      if (act == Act::admit && S > 1) send += p.stage[0].send_once_s;
      if (!p.overlap_transfers) busy_end += send;
      const int to = (next + 1) % S;
      inbox[static_cast<size_t>(to)].push_back(
          {finish + send + p.stage[s].hop_s, m.micro_batch, next == S - 1 ? m.step + 1 : m.step});
    }
    free_at[s] = busy_end;
    busy[s].push_back({start, busy_end});
  }
  FARM_ASSERT(static_cast<int64_t>(r.completed_s.size()) == mine, "simulate: ", r.completed_s.size(), " of ",
              mine, " micro-batches completed");

  FARM_ASSERT(r.makespan_s > 0, "simulate: a plan whose stages take no time");
  r.images_per_s = static_cast<double>(o.micro_batches) * static_cast<double>(p.workload.items) / r.makespan_s;
  r.steady_begin_s = *std::min_element(r.completed_s.begin(), r.completed_s.end());
  r.steady_end_s = last_admit;
  if (!(r.steady_end_s > r.steady_begin_s)) {
    r.steady_begin_s = 0;
    r.steady_end_s = r.makespan_s;
  }
  const double span = r.steady_end_s - r.steady_begin_s;
  double sum_all = 0, sum_steady = 0;
  // Busy intervals of one stage never overlap, so a fraction above 1 is
  // rounding only (sums of many interval lengths).
  auto fraction = [](double busy_s, double span_s) {
    const double f = busy_s / span_s;
    FARM_ASSERT(f <= 1 + 1e-9, "simulate: busy fraction ", f);
    return std::min(f, 1.0);
  };
  for (size_t s = 0; s < static_cast<size_t>(S); ++s) {
    r.busy.push_back(fraction(overlap(busy[s], 0, r.makespan_s), r.makespan_s));
    r.busy_steady.push_back(fraction(overlap(busy[s], r.steady_begin_s, r.steady_end_s), span));
    sum_all += r.busy.back();
    sum_steady += r.busy_steady.back();
  }
  r.bubble_overall = 1 - sum_all / S;
  r.bubble = 1 - sum_steady / S;
  return r;
}

}  // namespace farm::partition
