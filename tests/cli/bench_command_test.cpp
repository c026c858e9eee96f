// farm bench, run as the real binary on the shipped tiny model: every part
// is timed `--repeats` times, the JSON is complete and self-consistent (a
// UNet step of batch 2 is twice batch 1's FLOPs by the cost model), bf16
// holds about half the weight bytes of f32, and bad flags are errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Result {
  int status = -1;
  std::string output;
};

Result run(const std::string& args) {
  Result r;
  const std::string cmd = std::string(FARM_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

const std::string kModel = std::string(FARM_MODELS_DIR) + "/tiny-shapes";

nlohmann::json bench(const std::string& dtype) {
  const fs::path json = fs::temp_directory_path() / ("farm_bench_" + dtype + "_" + std::to_string(getpid()) + ".json");
  const Result r = run("bench --model " + kModel + " --dtype " + dtype + " --batches 1,2 --repeats 3 --json " +
                       json.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("UNet step (batch 2)"), std::string::npos) << r.output;
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  fs::remove(json);
  return j;
}

TEST(FarmBench, TimesEveryPartAndWritesConsistentJson) {
  const auto f32 = bench("f32");
  const auto bf16 = bench("bf16");
  for (const auto* j : {&f32, &bf16}) {
    for (const char* part : {"text_encoder", "vae_decode"}) {
      EXPECT_EQ(j->at(part).at("runs_ms").size(), 3u) << part;
      EXPECT_GT(j->at(part).at("min_ms").get<double>(), 0.0) << part;
      EXPECT_LE(j->at(part).at("min_ms").get<double>(), j->at(part).at("median_ms").get<double>()) << part;
    }
    const auto& unet = j->at("unet");
    ASSERT_EQ(unet.size(), 2u);
    EXPECT_EQ(unet[0].at("batch"), 1);
    EXPECT_EQ(unet[1].at("batch"), 2);
    EXPECT_GE(unet[0].at("blocks").size(), 10u);
    EXPECT_EQ(unet[0].at("blocks").size(), unet[1].at("blocks").size());
    // FLOPs = GFLOP/s × seconds: batch 2 is exactly twice batch 1.
    auto flops = [](const nlohmann::json& u) {
      return u.at("gflops").get<double>() * u.at("min_ms").get<double>();
    };
    EXPECT_NEAR(flops(unet[1]) / flops(unet[0]), 2.0, 1e-9);
    EXPECT_GE(j->at("peak_rss_mb").get<double>(), j->at("rss_after_load_mb").get<double>() * 0.9);
  }
  EXPECT_EQ(f32.at("dtype"), "F32");
  // Without AMX the bf16 request computes in f32 (and says so).
  if (bf16.at("dtype") == "BF16") {
    EXPECT_LT(bf16.at("weight_mb").get<double>(), 0.7 * f32.at("weight_mb").get<double>());
  }
}

TEST(FarmBench, BadFlagsAreErrors) {
  for (const std::string& bad : {std::string("--batches 0"), std::string("--batches 1,x"), std::string("--size 30"),
                                 std::string("--repeats 0")}) {
    const Result r = run("bench --model " + kModel + " " + bad);
    EXPECT_NE(r.status, 0) << bad;
    EXPECT_NE(r.output.find("farm: error:"), std::string::npos) << bad << ": " << r.output;
  }
  const Result r = run("bench --model /nonexistent/folder");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/nonexistent/folder"), std::string::npos) << r.output;
}

}  // namespace
