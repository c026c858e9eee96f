// nccl_pairs' host side on the CPU: options, the table's rows and footer,
// the JSON report tools/gpu/report.py reads. The exchanges themselves need
// two GPUs (tools/gpu/check.sh runs them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "benchmarks/nccl_pairs_table.h"
#include "farm/core/error.h"

namespace farm::bench {
namespace {

TEST(NcclPairsOptions, Bytes) {
  EXPECT_EQ(parse_bytes("1048576"), 1048576u);
  EXPECT_EQ(parse_bytes("64K"), 65536u);
  EXPECT_EQ(parse_bytes("8M"), 8u << 20);
  EXPECT_EQ(parse_bytes("2g"), 2ull << 30);
  for (const char* bad : {"", "0", "-1", "8MB", "M", "1.5M", "8 M", "99999999999999999999"})
    EXPECT_THROW(parse_bytes(bad), Error) << bad;
}

TEST(NcclPairsOptions, DefaultsAndFlags) {
  const auto d = parse_pair_options({});
  EXPECT_EQ(d.sizes, (std::vector<size_t>{1u << 20, 8u << 20, 64u << 20}));
  EXPECT_EQ(d.warmup, 5);
  EXPECT_EQ(d.iters, 20);
  EXPECT_TRUE(d.check);
  EXPECT_TRUE(d.json.empty());

  // Plan bytes are exact integers; lists are sorted, repeats dropped, --sizes may repeat.
  const auto o = parse_pair_options(
      {"--sizes", "8M,302344", "--sizes", "25800968,8M", "--warmup", "0", "--iters", "3", "--no-check", "--json", "p.json"});
  EXPECT_EQ(o.sizes, (std::vector<size_t>{302344, 8u << 20, 25800968}));
  EXPECT_EQ(o.warmup, 0);
  EXPECT_EQ(o.iters, 3);
  EXPECT_FALSE(o.check);
  EXPECT_EQ(o.json, "p.json");
  EXPECT_TRUE(parse_pair_options({"--help"}).help);
}

TEST(NcclPairsOptions, ErrorsNameTheFlag) {
  auto message = [](const std::vector<std::string>& args) {
    try {
      parse_pair_options(args);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"--iters", "0"}).find("--iters '0': expected a whole number of at least 1"), std::string::npos);
  EXPECT_NE(message({"--warmup", "x"}).find("--warmup 'x'"), std::string::npos);
  EXPECT_NE(message({"--sizes", "1M,"}).find("message size ''"), std::string::npos);
  EXPECT_NE(message({"--json"}).find("--json: expected a value"), std::string::npos);
  EXPECT_NE(message({"--bogus"}).find("unknown argument '--bogus'"), std::string::npos);
}

TEST(NcclPairsTable, RowsFooterAndJson) {
  // 64 MiB in 400 us: 167.77 GB/s (1e9 bytes per GB, as nccl-tests).
  const PairResult r{.src = 0, .dst = 1, .bytes = 64u << 20, .iters = 20, .seconds = 400e-6, .wrong = 0};
  EXPECT_NEAR(r.algbw(), 167.772, 1e-3);
  EXPECT_EQ(r.busbw(), r.algbw());
  EXPECT_EQ(pair_table_row(r), "     0    1       67108864       400.00      167.77      167.77        0\n");
  const PairResult unchecked{.src = 1, .dst = 0, .bytes = 1024, .iters = 20, .seconds = 10e-6};
  EXPECT_NE(pair_table_row(unchecked).find("N/A"), std::string::npos);
  PairResult bad = r;
  bad.wrong = 7;
  EXPECT_NE(pair_table_footer({r, unchecked}).find("Out of bounds values : 0 OK"), std::string::npos);
  EXPECT_NE(pair_table_footer({r, bad}).find("Out of bounds values : 7 WRONG"), std::string::npos);
  EXPECT_NE(pair_table_footer({r, bad}).find("Avg bus bandwidth    : 167.772"), std::string::npos);

  const auto o = parse_pair_options({"--sizes", "64M"});
  const std::string header = pair_table_header("node1", {"GPU A", "GPU B"}, o);
  EXPECT_NE(header.find("every ordered pair of 2 GPUs on node1"), std::string::npos);
  EXPECT_NE(header.find("#  GPU 1: GPU B"), std::string::npos);

  const auto j = pair_report_json("node1", {"GPU A", "GPU B"}, o, {r, unchecked});
  EXPECT_TRUE(j["skipped"].is_null());
  EXPECT_EQ(j["devices"].size(), 2u);
  EXPECT_EQ(j["results"][0]["bytes"], 64u << 20);
  EXPECT_NEAR(j["results"][0]["time_us"].get<double>(), 400.0, 1e-9);
  EXPECT_NEAR(j["results"][0]["busbw_gbps"].get<double>(), 167.772, 1e-3);
  EXPECT_EQ(j["results"][0]["wrong"], 0);
  EXPECT_TRUE(j["results"][1]["wrong"].is_null());

  const auto s = pair_report_json("node1", {}, o, {}, "1 visible CUDA device; pair bandwidth needs 2 or more");
  EXPECT_EQ(s["skipped"], "1 visible CUDA device; pair bandwidth needs 2 or more");
  EXPECT_TRUE(s["results"].empty());
}

TEST(NcclPairsTable, PatternDiffersBetweenSendersAndAlongTheBuffer) {
  int same_sender = 0, same_offset = 0;
  for (size_t i = 0; i < 4096; ++i) {
    same_sender += pair_pattern(0, i) == pair_pattern(0, i + 1);
    same_offset += pair_pattern(0, i) == pair_pattern(1, i);
  }
  EXPECT_LT(same_sender, 64);
  EXPECT_EQ(same_offset, 0);
}

}  // namespace
}  // namespace farm::bench
