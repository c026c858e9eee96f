// Checks the --trace and --stats files of a job whose ranks' trace clocks were
// skewed by FARM_CLOCK_SKEW_S (tests/distributed/trace_test.sh):
//  (a) each rank's estimated clock offset is rank × skew within its own error
//      bound, and that bound is a few milliseconds;
//  (b) every state message's receive comes no earlier than its send, once
//      aligned; its two ends name the same micro-batch, step and part; and
//      every message a rank sent is in the trace;
//  (c) every busy interval lies inside the job's span (rank 0's event loop),
//      in the trace and in the stats file, within the rank's error bound;
//  (d) the trace has the Trace Event Format's structure and names a process
//      per host and a thread per rank.
// Usage: trace_check TRACE.json STATS.json RANKS SKEW_S
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

int failures = 0;

template <class... A>
void check(bool ok, const char* fmt, A... a) {
  if (ok) return;
  if (++failures <= 20) {
    std::fputs("FAIL: ", stderr);
    if constexpr (sizeof...(A) == 0) std::fputs(fmt, stderr);
    else std::fprintf(stderr, fmt, a...);
    std::fputs("\n", stderr);
  }
}

json read_json(const char* path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "FAIL: cannot open %s\n", path);
    std::exit(1);
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    std::fprintf(stderr, "FAIL: %s is not JSON: %s\n", path, e.what());
    std::exit(1);
  }
}

const std::set<std::string> kBusyKinds = {"admit", "unet", "vae", "receive"};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: trace_check TRACE.json STATS.json RANKS SKEW_S\n");
    return 2;
  }
  const json trace = read_json(argv[1]), stats = read_json(argv[2]);
  const int n = std::atoi(argv[3]);
  const double skew = std::atof(argv[4]);
  // Tens of microseconds on an idle host; a loaded CI machine can delay every
  // one of the 64 rounds by milliseconds. The bound itself is what (a) checks.
  constexpr double kMaxError = 0.02;
  try {
    // (d) structure.
    check(trace.is_object() && trace.contains("traceEvents") && trace["traceEvents"].is_array(),
          "no traceEvents array");
    check(trace.value("displayTimeUnit", "") == "ms", "displayTimeUnit is not \"ms\"");
    const json& events = trace.at("traceEvents");
    std::map<int, std::string> process_names;
    std::map<std::pair<int, int>, json> threads;  // (pid, tid) -> thread_name args
    std::map<int, int> pid_of_rank;
    for (const auto& e : events) {
      check(e.contains("ph") && e["ph"].is_string() && e.contains("pid") && e["pid"].is_number_integer() &&
                e["pid"].get<int>() > 0 && e.contains("name") && e["name"].is_string(),
            "event without ph, a pid > 0 or a name: %s", e.dump().c_str());
      const std::string ph = e.at("ph");
      if (ph == "M") {
        check(e.contains("args") && e["args"].is_object(), "metadata event without args");
        if (e["name"] == "process_name") process_names[e["pid"]] = e["args"].at("name");
        if (e["name"] == "thread_name") threads[{e["pid"], e.at("tid")}] = e["args"];
        continue;
      }
      check(e.contains("tid") && e["tid"].get<int>() > 0 && e.contains("ts") && e["ts"].is_number(),
            "event without a tid > 0 or ts: %s", e.dump().c_str());
      if (ph == "X") check(e.contains("dur") && e["dur"].get<double>() >= 0, "X event without dur >= 0");
      else if (ph == "i") check(e.value("s", "") == "t", "instant event not thread-scoped");
      else if (ph == "s" || ph == "f") check(e.contains("id"), "flow event without id");
      else check(false, "unexpected phase %s", ph.c_str());
    }
    for (const auto& [key, args] : threads) check(process_names.count(key.first), "thread of unnamed pid %d", key.first);
    // A thread's complete events must nest (viewers stack them); a rank's
    // busy intervals never even overlap: it does one unit of work at a time.
    std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> slices;
    for (const auto& e : events)
      if (e["ph"] == "X") slices[{e["pid"], e["tid"]}].emplace_back(e["ts"], e["ts"].get<double>() + e["dur"].get<double>());
    for (auto& [key, v] : slices) {
      std::sort(v.begin(), v.end());
      for (size_t i = 1; i < v.size(); ++i)
        check(v[i].first >= v[i - 1].second - 1e-3, "pid %d tid %d: slices overlap at %.3f us", key.first, key.second,
              v[i].first);
    }
    check(static_cast<int>(stats.at("ranks").size()) == n, "stats has %zu ranks, expected %d",
          stats.at("ranks").size(), n);
    for (int r = 0; r < n; ++r) {
      int found = 0;
      for (const auto& [key, args] : threads) {
        const std::string name = args.at("name");
        if (key.second != r + 1 || name.rfind("rank " + std::to_string(r) + " (host ", 0) != 0) continue;
        check(name.find(" stage ") != std::string::npos, "thread name '%s' has no stage", name.c_str());
        ++found;
        pid_of_rank[r] = key.first;
      }
      check(found == 1, "%d thread_name events for rank %d", found, r);
    }
    if (failures) return 1;

    // (a) clock offsets: in the thread names, otherData and the stats file.
    std::vector<double> error(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) {
      const json& args = threads.at({pid_of_rank[r], r + 1});
      const double off = args.at("clock_offset_s"), err = args.at("clock_error_s");
      error[static_cast<size_t>(r)] = err;
      const json& st = stats["ranks"][static_cast<size_t>(r)];
      check(st.at("clock_offset_s") == off && st.at("clock_error_s") == err, "rank %d: stats and trace offsets differ", r);
      check(trace["otherData"]["clock_offsets"][static_cast<size_t>(r)]["clock_offset_s"] == off,
            "rank %d: otherData offset differs", r);
      check(std::abs(off - r * skew) <= err + 1e-6, "rank %d: offset %.6f s, injected %.6f s, bound %.6f s", r, off,
            r * skew, err);
      check(err <= kMaxError, "rank %d: error bound %.6f s is above %.3f s", r, err, kMaxError);
      std::printf("rank %d: offset %.6f s (injected %.1f s, off by %.1f us), bound %.1f us\n", r, off, r * skew,
                  (off - r * skew) * 1e6, err * 1e6);
    }

    // (c) the job's span, and each rank's busy intervals inside it.
    double j0 = 0, j1 = -1;
    for (const auto& e : events)
      if (e["ph"] == "X" && e.value("cat", "") == "job") j0 = e["ts"], j1 = j0 + e["dur"].get<double>();
    check(j1 > j0, "no job span (an X event of cat \"job\")");
    std::map<int, std::map<std::string, int>> kinds;  // rank -> busy kind -> count
    for (const auto& e : events) {
      if (e["ph"] != "X" || e.value("cat", "") == "job") continue;
      int r = e["tid"].get<int>() - 1;
      check(r >= 0 && r < n && pid_of_rank[r] == e["pid"], "busy event on no rank's thread: %s", e.dump().c_str());
      if (failures) return 1;
      const std::string kind = e.at("cat");
      check(kBusyKinds.count(kind), "busy event of unknown kind '%s'", kind.c_str());
      ++kinds[r][kind];
      const double tol = error[static_cast<size_t>(r)] * 1e6 + 1;
      const double b = e["ts"], d = e["dur"];
      check(b >= j0 - tol && b + d <= j1 + tol, "rank %d: busy [%.1f, %.1f] us outside the job [%.1f, %.1f]", r, b,
            b + d, j0, j1);
    }
    const auto& loop = stats["ranks"][0].at("loop");
    for (int r = 0; r < n; ++r) {
      const json& st = stats["ranks"][static_cast<size_t>(r)];
      const double tol = error[static_cast<size_t>(r)] + 1e-6;
      for (const auto& iv : st.at("busy"))
        check(iv[0].get<double>() >= loop[0].get<double>() - tol && iv[1].get<double>() <= loop[1].get<double>() + tol,
              "rank %d: stats busy interval outside rank 0's loop (not aligned?)", r);
      check(kinds[r]["unet"] + kinds[r]["admit"] > 0, "rank %d: no UNet pass in the trace", r);
      check(st.at("busy").size() == st.at("busy_what").size(), "rank %d: busy and busy_what differ in length", r);
    }
    check(kinds[0]["admit"] > 0, "rank 0 (stage 0): no admissions (text encoder) in the trace");
    check(kinds[n - 1]["vae"] > 0, "rank %d (last stage): no VAE parts in the trace", n - 1);
    if (n > 1) check(kinds[1]["receive"] > 0, "rank 1: no receives in the trace");

    // (b) transfers: one send and one receive per flow id, in causal order.
    std::map<int64_t, json> starts, ends;
    for (const auto& e : events) {
      if (e["ph"] == "s") check(starts.emplace(e["id"].get<int64_t>(), e).second, "flow id %s starts twice", e["id"].dump().c_str());
      if (e["ph"] == "f") check(ends.emplace(e["id"].get<int64_t>(), e).second, "flow id %s ends twice", e["id"].dump().c_str());
    }
    int64_t sent = 0;
    for (const auto& st : stats["ranks"]) sent += st.at("states_sent").get<int64_t>();
    check(static_cast<int64_t>(starts.size()) == sent && ends.size() == starts.size(),
          "%zu flow starts, %zu ends for %lld state messages sent", starts.size(), ends.size(),
          static_cast<long long>(sent));
    double min_gap = 1e300;
    for (const auto& [id, s] : starts) {
      const auto f = ends.find(id);
      check(f != ends.end(), "flow %lld has no end", static_cast<long long>(id));
      if (f == ends.end()) continue;
      const double gap = f->second["ts"].get<double>() - s["ts"].get<double>();
      min_gap = std::min(min_gap, gap);
      // Aligned only to within each end's bound: a receive may seem that much early.
      const int from = s["tid"].get<int>() - 1, to = f->second["tid"].get<int>() - 1;
      const bool ranks_ok = from >= 0 && from < n && to >= 0 && to < n;
      check(ranks_ok, "flow %lld on no rank's thread", static_cast<long long>(id));
      if (!ranks_ok) continue;
      const double slack = (error[static_cast<size_t>(from)] + error[static_cast<size_t>(to)]) * 1e6 + 1;
      check(gap >= -slack, "flow %lld: received %.1f us before it was sent (bounds allow %.1f us)",
            static_cast<long long>(id), -gap, slack);
      for (const char* k : {"mb", "step", "part"})
        check(s["args"][k] == f->second["args"][k], "flow %lld: the ends disagree on %s", static_cast<long long>(id), k);
      check(s["tid"] != f->second["tid"], "flow %lld goes nowhere", static_cast<long long>(id));
    }
    if (!failures)
      std::printf("OK: %d ranks, %zu events, %zu transfers (shortest send to receive %.1f us), job %.3f s\n", n,
                  events.size(), starts.size(), starts.empty() ? 0.0 : min_gap, (j1 - j0) / 1e6);
  } catch (const json::exception& e) {
    std::fprintf(stderr, "FAIL: unexpected structure: %s\n", e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
