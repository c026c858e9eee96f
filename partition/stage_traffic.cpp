#include "partition/stage_traffic.h"

#include <algorithm>
#include <set>

#include "farm/core/error.h"

namespace farm::partition {

namespace {

bool reads_context(const ModelCosts& c, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i)
    if (c.blocks[i].reads_context) return true;
  return false;
}

// The part both variants share; `ends` null: the bound.
StageTraffic traffic(const ModelCosts& c, size_t begin, size_t end, int index, int stages,
                     const std::vector<size_t>* ends) {
  const size_t n = c.blocks.size();
  FARM_ASSERT(begin < end && end <= n && index >= 0 && index < stages, "stage ", index, ": blocks ", begin, "..", end);
  FARM_ASSERT(c.hidden_msg_bytes.size() == n + 1, "cost model without message sizes");
  StageTraffic t;
  t.reads_context = reads_context(c, begin, end);
  if (stages == 1) return t;
  const bool last = index == stages - 1;
  // Which stage holds block i (exact only).
  auto stage_of = [&](size_t i) {
    return static_cast<int>(std::upper_bound(ends->begin(), ends->end(), i) - ends->begin());
  };
  auto flow = [&](int to) -> SendFlow& {
    auto it = std::find_if(t.to.begin(), t.to.end(), [&](const SendFlow& f) { return f.stage == to; });
    if (it != t.to.end()) return *it;
    t.to.push_back({.stage = to});
    return t.to.back();
  };

  // Per step: the hidden state on, or the next step's model input back.
  t.send_bytes = c.hidden_msg_bytes[end];
  t.messages = 1;
  if (ends) flow(last ? 0 : index + 1).bytes += t.send_bytes;
  std::set<size_t> pop_blocks;
  std::set<int> receivers;
  for (const auto& k : c.skips) {
    if (k.pushed_by >= begin && k.pushed_by < end && k.popped_by >= end) {
      t.send_bytes += k.bytes;
      pop_blocks.insert(k.popped_by);
      if (ends) {
        receivers.insert(stage_of(k.popped_by));
        flow(stage_of(k.popped_by)).bytes += k.bytes;
      }
    }
    if (index > 0 && k.pushed_by < begin && k.popped_by >= begin && k.popped_by < end) t.recv_bytes += k.bytes;
  }
  t.messages += ends ? static_cast<int>(receivers.size())
                     : std::min(static_cast<int>(pop_blocks.size()), stages - 1 - index);
  t.recv_bytes += index == 0 ? c.hidden_msg_bytes[0] : c.hidden_msg_bytes[begin];
  if (index > 0 && t.reads_context) t.recv_bytes_once = c.context_bytes;

  // Per micro-batch, at admission: stage 0's batch messages.
  if (index == 0) {
    if (!ends) {
      t.messages_once = stages - 1;
      t.send_bytes_once = (stages - 1) * c.context_bytes;
    } else {
      for (int s = 1; s < stages; ++s) {
        const bool reads = reads_context(c, (*ends)[static_cast<size_t>(s - 1)], (*ends)[static_cast<size_t>(s)]);
        if (reads || s == stages - 1) ++t.messages_once;
        if (!reads) continue;
        t.send_bytes_once += c.context_bytes;
        flow(s).bytes_once += c.context_bytes;
      }
    }
  }
  std::sort(t.to.begin(), t.to.end(), [](const SendFlow& a, const SendFlow& b) { return a.stage < b.stage; });
  return t;
}

}  // namespace

StageTraffic stage_traffic(const ModelCosts& c, const std::vector<size_t>& ends, int index) {
  const int S = static_cast<int>(ends.size());
  FARM_ASSERT(index >= 0 && index < S && ends.back() == c.blocks.size(), "stage_traffic: stage ", index, " of ", S);
  const size_t begin = index == 0 ? 0 : ends[static_cast<size_t>(index - 1)];
  return traffic(c, begin, ends[static_cast<size_t>(index)], index, S, &ends);
}

StageTraffic stage_traffic_bound(const ModelCosts& c, size_t begin, size_t end, int index, int stages) {
  return traffic(c, begin, end, index, stages, nullptr);
}

}  // namespace farm::partition
