// The host side of nccl_pairs (NCCL send/recv bandwidth between every
// ordered pair of local GPUs): its options, its nccl-tests-style table and
// its JSON report. No CUDA or NCCL type here, so a CPU-only build compiles it
// and nccl_pairs_table_test checks it without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace farm::bench {

struct PairOptions {
  std::vector<size_t> sizes;  // message bytes, ascending, no repeats
  int warmup = 5, iters = 20;
  bool check = true;  // one verified exchange per pair and size before timing
  std::string json;   // write the report here as well ("" = no file)
  bool help = false;
};

// "1048576", "64K", "8M", "1G" (binary multiples, as nccl-tests' -b/-e).
size_t parse_bytes(const std::string& s);

// nccl_pairs' arguments (without argv[0]); bad ones are farm::Errors naming
// the flag and what was expected. Default sizes: 1M, 8M, 64M.
PairOptions parse_pair_options(const std::vector<std::string>& args);
std::string pair_usage(const std::string& argv0);

struct PairResult {
  int src = 0, dst = 0;
  size_t bytes = 0;
  int iters = 0;
  double seconds = 0;   // per iteration
  int64_t wrong = -1;   // bytes unlike the pattern in the checked exchange; -1: not checked
  double algbw() const;  // bytes / seconds, GB/s (1e9)
  // nccl-tests' bus bandwidth: for send/recv the factor is 1, so equal to algbw.
  double busbw() const { return algbw(); }
};

// Byte i of what GPU `src` sends: differs between senders and along the buffer.
uint8_t pair_pattern(int src, size_t i);

// The table, nccl-tests style: '#'-prefixed header lines, one row per pair
// and size, and a footer with the average bus bandwidth and the wrong bytes.
std::string pair_table_header(const std::string& host, const std::vector<std::string>& devices,
                              const PairOptions& o);
std::string pair_table_row(const PairResult& r);
std::string pair_table_footer(const std::vector<PairResult>& results);

// What tools/gpu/report.py reads: host, devices, options, one object per
// result (src, dst, bytes, iters, time_us, algbw_gbps, busbw_gbps, wrong) and
// "skipped": null, or the reason nothing was measured.
nlohmann::json pair_report_json(const std::string& host, const std::vector<std::string>& devices,
                                const PairOptions& o, const std::vector<PairResult>& results,
                                const std::string& skipped = "");

}  // namespace farm::bench
