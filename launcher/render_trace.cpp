#include "launcher/render_trace.h"

#include <cstdio>
#include <map>
#include <utility>

#include "farm/coord/atomic_file.h"
#include "farm/core/error.h"

namespace farm::launcher {

namespace {

nlohmann::json transfers_json(const std::vector<pipeline::StateTransfer>& v, double shift) {
  auto out = nlohmann::json::array();
  for (const auto& x : v)
    out.push_back({{"t", x.t + shift}, {"peer", x.peer}, {"bytes", x.bytes}, {"id", x.id}, {"step", x.step},
                   {"part", x.part}});
  return out;
}

void shift_numbers(nlohmann::json& a, double by) {
  for (auto& t : a) t = t.get<double>() + by;
}

// What a busy interval was, as its event's name.
std::string busy_name(const nlohmann::json& w) {
  const std::string what = w.at("what");
  const auto id = w.at("id").get<int64_t>();
  const int step = w.at("step").get<int>();
  if (what == "admit") return cat("text encoder + UNet: mb ", id, " step ", step);
  if (what == "unet") return cat("UNet: mb ", id, " step ", step);
  if (what == "vae") return cat("VAE: mb ", id, " part ", step);
  if (what == "receive") return cat("receive: mb ", id, " step ", step);
  return what;
}

// A state message's args on its events: what it carried, where it went.
nlohmann::json transfer_args(const nlohmann::json& x) {
  return {{"mb", x.at("id")}, {"step", x.at("step")}, {"part", x.at("part")}, {"bytes", x.at("bytes")},
          {"peer", x.at("peer")}};
}

// A naming event: a process's (tid < 0) or a thread's.
nlohmann::json metadata(const char* name, int pid, int tid, nlohmann::json args) {
  nlohmann::json m = {{"name", name}, {"ph", "M"}, {"pid", pid}, {"args", std::move(args)}};
  if (tid >= 0) m["tid"] = tid;
  return m;
}

}  // namespace

nlohmann::json rank_trace_json(const pipeline::RingStats& s, int rank, double loop_begin_s, double loop_end_s) {
  const double skew = comm::test_clock_skew_s(rank);  // steady clock -> trace clock
  auto busy = nlohmann::json::array(), what = nlohmann::json::array();
  for (const auto& [b, e] : s.busy) busy.push_back({b + skew, e + skew});
  for (const auto& w : s.busy_what) what.push_back({{"what", w.what}, {"id", w.id}, {"step", w.step}});
  auto admissions = nlohmann::json(s.admissions), completions = nlohmann::json(s.completions);
  shift_numbers(admissions, skew);
  shift_numbers(completions, skew);
  return {{"busy", busy},
          {"busy_what", what},
          {"admissions", admissions},
          {"completions", completions},
          {"sends", transfers_json(s.sends, skew)},
          {"receives", transfers_json(s.receives, skew)},
          {"loop", {loop_begin_s + skew, loop_end_s + skew}}};
}

void align_rank_traces(std::vector<nlohmann::json>& ranks, const std::vector<comm::ClockOffset>& clocks) {
  for (size_t r = 0; r < ranks.size(); ++r) {
    const comm::ClockOffset c = r < clocks.size() ? clocks[r] : comm::ClockOffset{};
    auto& j = ranks[r];
    j["clock_offset_s"] = c.offset_s;
    j["clock_error_s"] = c.error_s;
    if (!j.contains("loop")) continue;  // not traced
    for (auto& iv : j["busy"]) shift_numbers(iv, -c.offset_s);
    for (const char* key : {"admissions", "completions", "loop"}) shift_numbers(j[key], -c.offset_s);
    for (const char* key : {"sends", "receives"})
      for (auto& x : j[key]) x["t"] = x["t"].get<double>() - c.offset_s;
  }
}

nlohmann::json chrome_trace(const std::vector<nlohmann::json>& ranks) {
  FARM_ASSERT(!ranks.empty() && ranks[0].contains("loop"), "a Chrome trace needs rank 0's traced statistics");
  const double origin = ranks[0]["loop"][0].get<double>();
  const auto us = [origin](const nlohmann::json& t) { return (t.get<double>() - origin) * 1e6; };
  auto events = nlohmann::json::array();
  std::map<std::string, int> pid_of;  // host -> pid
  for (const auto& r : ranks) {
    const std::string host = r.at("host");
    if (pid_of.count(host)) continue;
    const int pid = static_cast<int>(pid_of.size()) + 1;
    pid_of[host] = pid;
    events.push_back(metadata("process_name", pid, -1, {{"name", cat("host ", host)}}));
    events.push_back(metadata("process_sort_index", pid, -1, {{"sort_index", pid}}));
  }
  auto clocks = nlohmann::json::array();
  // Per directed pair of ranks, its sends and receives in order: the n-th of each are one message.
  std::map<std::pair<int, int>, std::vector<nlohmann::json>> sent, received;
  for (const auto& r : ranks) {
    const int rank = r.at("rank").get<int>(), tid = rank + 1;
    const std::string host = r.at("host");
    const int pid = pid_of.at(host);
    const double offset = r.value("clock_offset_s", 0.0), error = r.value("clock_error_s", 0.0);
    clocks.push_back({{"rank", rank}, {"host", host}, {"clock_offset_s", offset}, {"clock_error_s", error}});
    events.push_back(metadata("thread_name", pid, tid,
                              {{"name", cat("rank ", rank, " (host ", host, ") pipeline ", r.at("pipeline").get<int>(),
                                            " stage ", r.at("stage").get<int>())},
                               {"blocks", r.at("blocks")},
                               {"clock_offset_s", offset},
                               {"clock_error_s", error}}));
    events.push_back(metadata("thread_sort_index", pid, tid, {{"sort_index", rank}}));
    if (!r.contains("loop")) continue;
    const auto& busy = r.at("busy");
    const auto& what = r.at("busy_what");
    for (size_t i = 0; i < busy.size(); ++i) {
      const double b = us(busy[i][0]), e = us(busy[i][1]);
      const auto& w = what.at(i);
      events.push_back({{"name", busy_name(w)}, {"cat", w.at("what")}, {"ph", "X"}, {"ts", b}, {"dur", e - b},
                        {"pid", pid}, {"tid", tid}, {"args", {{"mb", w.at("id")}, {"step", w.at("step")}}}});
    }
    for (const auto& t : r.at("completions"))
      events.push_back({{"name", "images to rank 0"}, {"cat", "done"}, {"ph", "i"}, {"s", "t"}, {"ts", us(t)},
                        {"pid", pid}, {"tid", tid}});
    for (const auto& x : r.at("sends")) {
      sent[{rank, x.at("peer").get<int>()}].push_back(x);
      events.push_back({{"name", cat("send ", x.at("part").get<std::string>(), " to rank ", x.at("peer").get<int>())},
                        {"cat", "state"}, {"ph", "i"}, {"s", "t"}, {"ts", us(x.at("t"))}, {"pid", pid}, {"tid", tid},
                        {"args", transfer_args(x)}});
    }
    for (const auto& x : r.at("receives")) {
      received[{x.at("peer").get<int>(), rank}].push_back(x);
      events.push_back({{"name", cat("receive ", x.at("part").get<std::string>(), " from rank ", x.at("peer").get<int>())},
                        {"cat", "state"}, {"ph", "i"}, {"s", "t"}, {"ts", us(x.at("t"))}, {"pid", pid}, {"tid", tid},
                        {"args", transfer_args(x)}});
    }
  }
  // Flow arrows, send to receipt; the same args on both ends, so a reader can
  // check the pairing (micro-batch, step, part).
  int64_t flow = 0;
  for (const auto& [pair, sends] : sent) {
    const auto got = received.find(pair);
    if (got == received.end()) continue;
    const auto& [from, to] = pair;
    for (size_t n = 0; n < sends.size() && n < got->second.size(); ++n) {
      const auto& s = sends[n];
      const auto& g = got->second[n];
      ++flow;
      events.push_back({{"name", "state"}, {"cat", "state"}, {"ph", "s"}, {"id", flow}, {"ts", us(s.at("t"))},
                        {"pid", pid_of.at(ranks.at(from).at("host"))}, {"tid", from + 1}, {"args", transfer_args(s)}});
      events.push_back({{"name", "state"}, {"cat", "state"}, {"ph", "f"}, {"bp", "e"}, {"id", flow},
                        {"ts", us(g.at("t"))}, {"pid", pid_of.at(ranks.at(to).at("host"))}, {"tid", to + 1},
                        {"args", transfer_args(g)}});
    }
  }
  // The job's span: rank 0's event loop, in a process of its own.
  const int job_pid = static_cast<int>(pid_of.size()) + 1;
  const auto& loop = ranks[0]["loop"];
  events.push_back(metadata("process_name", job_pid, -1, {{"name", "job"}}));
  events.push_back(metadata("process_sort_index", job_pid, -1, {{"sort_index", job_pid}}));
  events.push_back(metadata("thread_name", job_pid, 1, {{"name", "render (rank 0's event loop)"}}));
  events.push_back({{"name", "render"}, {"cat", "job"}, {"ph", "X"}, {"ts", us(loop[0])},
                    {"dur", us(loop[1]) - us(loop[0])}, {"pid", job_pid}, {"tid", 1}});
  return {{"traceEvents", events},
          {"displayTimeUnit", "ms"},
          {"otherData",
           {{"clock", "rank 0's steady clock; ts 0 (microseconds) is the start of rank 0's event loop"},
            {"origin_s", origin},
            {"flows", flow},
            {"clock_offsets", clocks}}}};
}

bool write_chrome_trace(const std::string& path, const std::vector<nlohmann::json>& ranks) {
  try {
    write_file_atomic(path, chrome_trace(ranks).dump() + "\n");
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "farm: error: --trace %s: %s\n", path.c_str(), e.what());
    std::fflush(stderr);
    return false;
  }
}

}  // namespace farm::launcher
