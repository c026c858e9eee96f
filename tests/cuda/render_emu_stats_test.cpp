// `farm render --backend cuda-emu --stats FILE`, run as a user runs it: the
// `device` object of each rank reports what crossed the host boundary, and a
// steady-state denoising step (every UNet pass once a micro-batch is done)
// moves only its latent-sized sample up (plus fp32 timesteps) and its output
// down, allocates nothing on the device and never synchronises the device.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;

// Runs farm with `args`; its exit status, and its output in `out` when given.
int run(const std::string& args, std::string* out = nullptr, const std::string& env = "") {
  // One log per process: ctest -j runs these tests as separate processes at once.
  const fs::path log = fs::path(FARM_TEST_TMP) / ("render_emu_stats_" + std::to_string(::getpid()) + ".log");
  const int st =
      std::system((env + " " + std::string(FARM_BIN) + " " + args + " > " + log.string() + " 2>&1").c_str());
  if (out) {
    std::ifstream in(log);
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class RenderEmuStats : public ::testing::TestWithParam<const char*> {};

TEST_P(RenderEmuStats, SteadyStepsStayOnTheDevice) {
  const fs::path dir = fs::path(FARM_TEST_TMP) / (std::string("emu_stats_") + GetParam());
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream job(dir / "job.jsonl");
    for (int i = 0; i < 3; ++i) job << R"({"prompt": "a small red circle on the left", "seed": )" << i << "}\n";
  }
  const int size = 16, steps = 3;
  const std::string args = std::string("render --backend cuda-emu --dtype ") + GetParam() + " --model " +
                           FARM_MODELS_DIR + "/tiny-shapes --prompts " + (dir / "job.jsonl").string() + " --out " +
                           (dir / "out").string() + " --stats " + (dir / "stats.json").string() +
                           " --sampler euler --guidance 7.5 --steps " + std::to_string(steps) +
                           " --width " + std::to_string(size) + " --height " + std::to_string(size);
  ASSERT_EQ(run(args), 0) << args;
  const auto stats = nlohmann::json::parse(std::ifstream(dir / "stats.json"));
  const auto& dev = stats.at("ranks").at(0).at("device");
  const auto& step = dev.at("per_step");
  // tiny-shapes: VAE factor 4, 4 latent channels; CFG doubles the rows.
  const int64_t rows = 2, latent = rows * (size / 4) * (size / 4) * 4 * 2;
  // Passes after the first micro-batch's decode (spread over the second's passes): at least the third's.
  EXPECT_GE(step.at("passes").get<int64_t>(), steps);
  EXPECT_LE(step.at("h2d_bytes").get<int64_t>(), latent + rows * 4);
  EXPECT_LE(step.at("d2h_bytes").get<int64_t>(), latent);
  EXPECT_EQ(step.at("allocations").get<int64_t>(), 0);
  EXPECT_EQ(step.at("syncs").get<int64_t>(), 0);
  EXPECT_LE(step.at("stream_syncs").get<int64_t>(), 1);
  EXPECT_GT(step.at("launches").get<int64_t>(), 0);
  // The whole job: the weights once, then only the small per-item traffic.
  EXPECT_GT(dev.at("weights_placed").get<int64_t>(), 0);
  EXPECT_GE(dev.at("h2d_bytes").get<int64_t>(), dev.at("weight_bytes_placed").get<int64_t>());
  EXPECT_EQ(dev.at("syncs").get<int64_t>(), 0);
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(dir / "out")) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 3);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RenderEmuStats, ::testing::Values("f16", "bf16"));

// A device with less free memory than the stage needs: a clear error naming
// the rank, stage and sizes, before any weight is read or image rendered.
TEST(RenderEmuStats, TooLittleDeviceMemoryIsAClearErrorBeforeCompute) {
  const fs::path dir = fs::path(FARM_TEST_TMP) / "emu_memory";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "job.txt") << "a small red circle on the left\n";
  std::string out;
  EXPECT_EQ(run(std::string("render --backend cuda-emu --model ") + FARM_MODELS_DIR + "/tiny-shapes --prompts " +
                    (dir / "job.txt").string() + " --out " + (dir / "out").string() + " --width 16 --height 16",
                &out, "FARM_EMU_MEMORY_MB=1"),
            2)
      << out;
  EXPECT_NE(out.find("stage 0 needs about"), std::string::npos) << out;
  EXPECT_NE(out.find("GB free"), std::string::npos) << out;
  EXPECT_EQ(out.find("loaded"), std::string::npos) << "no weights were read: " << out;
  EXPECT_FALSE(fs::exists(dir / "out" / "00000-0.png"));
}

TEST(RenderEmuStats, UnknownDtypeIsAClearError) {
  std::string out;
  EXPECT_NE(run(std::string("render --backend cuda-emu --dtype f8 --model ") + FARM_MODELS_DIR +
                    "/tiny-shapes --prompts /dev/null --out " + FARM_TEST_TMP + "/unused",
                &out),
            0);
  EXPECT_NE(out.find("--dtype"), std::string::npos) << out;
  EXPECT_NE(out.find("f8"), std::string::npos) << out;
}

}  // namespace
