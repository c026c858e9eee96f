#include "benchmarks/nccl_pairs_table.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "farm/core/error.h"

namespace farm::bench {

namespace {

std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

int parse_count(const std::string& flag, const std::string& value, int lo) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < lo || v > std::numeric_limits<int>::max())
    fail(flag, " '", value, "': expected a whole number of at least ", lo);
  return static_cast<int>(v);
}

}  // namespace

size_t parse_bytes(const std::string& s) {
  size_t used = 0;
  unsigned long long v = 0;
  try {
    if (!s.empty() && s[0] != '-') v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  unsigned long long unit = 1;
  if (used > 0 && used + 1 == s.size()) {
    switch (s[used]) {
      case 'K': case 'k': unit = 1ull << 10; break;
      case 'M': case 'm': unit = 1ull << 20; break;
      case 'G': case 'g': unit = 1ull << 30; break;
      default: used = 0;
    }
  } else if (used != s.size()) {
    used = 0;
  }
  if (used == 0 || v == 0 || v > std::numeric_limits<size_t>::max() / unit)
    fail("message size '", s, "': expected a positive number of bytes, optionally with K, M or G (x1024), e.g. 8M");
  return static_cast<size_t>(v * unit);
}

PairOptions parse_pair_options(const std::vector<std::string>& args) {
  PairOptions o;
  bool sizes_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail(a, ": expected a value after it");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--sizes") {
      const std::string& list = value();
      size_t begin = 0;
      while (begin <= list.size()) {
        const size_t comma = std::min(list.find(',', begin), list.size());
        o.sizes.push_back(parse_bytes(list.substr(begin, comma - begin)));
        begin = comma + 1;
      }
      sizes_given = true;
    } else if (a == "--warmup") {
      o.warmup = parse_count(a, value(), 0);
    } else if (a == "--iters") {
      o.iters = parse_count(a, value(), 1);
    } else if (a == "--json") {
      o.json = value();
      if (o.json.empty()) fail("--json: expected a file name");
    } else if (a == "--no-check") {
      o.check = false;
    } else {
      fail("unknown argument '", a, "' (--help lists the options)");
    }
  }
  if (!sizes_given) o.sizes = {1u << 20, 8u << 20, 64u << 20};
  std::sort(o.sizes.begin(), o.sizes.end());
  o.sizes.erase(std::unique(o.sizes.begin(), o.sizes.end()), o.sizes.end());
  return o;
}

std::string pair_usage(const std::string& argv0) {
  return "usage: " + argv0 +
         " [--sizes LIST] [--warmup N] [--iters N] [--no-check] [--json FILE]\n"
         "  NCCL send/recv bandwidth between every ordered pair of this node's visible GPUs,\n"
         "  one process driving them all (ncclCommInitAll).\n"
         "  --sizes LIST   message bytes, comma-separated, K/M/G = x1024 (default 1M,8M,64M)\n"
         "  --warmup N     untimed exchanges per pair and size (5)\n"
         "  --iters N      timed exchanges per pair and size (20)\n"
         "  --no-check     skip the verified exchange before timing\n"
         "  --json FILE    also write the results as JSON (tools/gpu/report.py reads it)\n"
         "  Fewer than 2 GPUs: says why, writes \"skipped\" and exits 0.\n";
}

double PairResult::algbw() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0; }

uint8_t pair_pattern(int src, size_t i) {
  return static_cast<uint8_t>((static_cast<size_t>(src) * 151u + i * 13u + 7u) ^ (i >> 8));
}

std::string pair_table_header(const std::string& host, const std::vector<std::string>& devices,
                              const PairOptions& o) {
  std::string s = format("# nccl_pairs: ncclSend/ncclRecv between every ordered pair of %zu GPUs on %s\n",
                         devices.size(), host.c_str());
  for (size_t d = 0; d < devices.size(); ++d) s += format("#  GPU %zu: %s\n", d, devices[d].c_str());
  s += format("#  %d warm-up and %d timed exchanges per pair and size%s; time per exchange from CUDA events\n",
              o.warmup, o.iters, o.check ? ", after one checked exchange" : "");
  s += "#  on the receiving GPU (its stream waits for the sender's); busbw = algbw for send/recv\n#\n";
  s += format("# %4s %4s %14s %12s %11s %11s %8s\n", "src", "dst", "size", "time", "algbw", "busbw", "#wrong");
  s += format("# %4s %4s %14s %12s %11s %11s %8s\n", "", "", "(B)", "(us)", "(GB/s)", "(GB/s)", "");
  return s;
}

std::string pair_table_row(const PairResult& r) {
  const std::string wrong = r.wrong < 0 ? "N/A" : std::to_string(r.wrong);
  return format("  %4d %4d %14zu %12.2f %11.2f %11.2f %8s\n", r.src, r.dst, r.bytes, r.seconds * 1e6, r.algbw(),
                r.busbw(), wrong.c_str());
}

std::string pair_table_footer(const std::vector<PairResult>& results) {
  double sum = 0;
  int64_t wrong = 0;
  for (const auto& r : results) {
    sum += r.busbw();
    wrong += std::max<int64_t>(r.wrong, 0);
  }
  const double avg = results.empty() ? 0 : sum / static_cast<double>(results.size());
  return format("# Out of bounds values : %lld %s\n# Avg bus bandwidth    : %.3f\n#\n", static_cast<long long>(wrong),
                wrong ? "WRONG" : "OK", avg);
}

nlohmann::json pair_report_json(const std::string& host, const std::vector<std::string>& devices,
                                const PairOptions& o, const std::vector<PairResult>& results,
                                const std::string& skipped) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : results)
    rows.push_back({{"src", r.src},
                    {"dst", r.dst},
                    {"bytes", r.bytes},
                    {"iters", r.iters},
                    {"time_us", r.seconds * 1e6},
                    {"algbw_gbps", r.algbw()},
                    {"busbw_gbps", r.busbw()},
                    {"wrong", r.wrong < 0 ? nlohmann::json() : nlohmann::json(r.wrong)}});
  return {{"host", host},
          {"devices", devices},
          {"sizes", o.sizes},
          {"warmup", o.warmup},
          {"iters", o.iters},
          {"checked", o.check},
          {"results", rows},
          {"skipped", skipped.empty() ? nlohmann::json() : nlohmann::json(skipped)}};
}

}  // namespace farm::bench
