#include <gtest/gtest.h>

#include "farm/coord/job.h"
#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

using farm::testing::fresh_dir;
using farm::testing::write_text;

std::string config_error(const std::string& toml) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "job.toml", toml);
  try {
    load_job_config(path, JobDefaults{});
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << toml;
  return "";
}

TEST(LoadJobConfig, EveryKeyOverridesTheBase) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "job.toml",
                                      "# job defaults\n"
                                      "negative_prompt = \"low quality, \u00e9\"\n"
                                      "seed = 1234\n"
                                      "steps = 50\n"
                                      "guidance = 9.5\n"
                                      "width = 768\n"
                                      "height = 1024\n"
                                      "sampler = \"dpmpp_2m\"\n"
                                      "clip_skip = 2\n");
  const JobDefaults d = load_job_config(path, JobDefaults{});
  EXPECT_EQ(d.negative_prompt, "low quality, \xC3\xA9");
  EXPECT_EQ(d.seed, 1234);
  EXPECT_EQ(d.steps, 50);
  EXPECT_EQ(d.guidance, 9.5f);
  EXPECT_EQ(d.width, 768);
  EXPECT_EQ(d.height, 1024);
  EXPECT_EQ(d.sampler, "dpmpp_2m");
  EXPECT_EQ(d.clip_skip, 2);
}

TEST(LoadJobConfig, AbsentKeysKeepTheBaseAndItemsOverrideBoth) {
  const auto dir = fresh_dir();
  JobDefaults base;
  base.steps = 33;
  base.sampler = "ddim";
  base.seed = 5;
  const std::string config = write_text(dir / "job.toml", "guidance = 4\nsteps = 12\n");
  const JobDefaults d = load_job_config(config, base);
  EXPECT_EQ(d.steps, 12);
  EXPECT_EQ(d.guidance, 4.0f);  // an integer is accepted as a number
  EXPECT_EQ(d.sampler, "ddim");
  EXPECT_EQ(d.seed, 5);
  EXPECT_EQ(d.width, 512);

  const std::string prompts = write_text(dir / "p.jsonl", "{\"prompt\": \"x\", \"steps\": 40}\n{\"prompt\": \"y\"}\n");
  const std::vector<JobItem> items =
      load_prompts(prompts, d, [](const std::string& s) { return s == "ddim"; });
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].steps, 40);  // item beats config
  EXPECT_EQ(items[1].steps, 12);  // config beats base
  EXPECT_EQ(items[1].guidance, 4.0f);
  EXPECT_EQ(items[1].sampler, "ddim");  // base survives
  EXPECT_EQ(items[1].seed, 5);
}

TEST(LoadJobConfig, UnknownKeyNamesFileLineAndKey) {
  const std::string message = config_error("steps = 20\nguidence = 7.5\n");
  EXPECT_NE(message.find("job.toml:2: key 'guidence': unknown key"), std::string::npos) << message;
}

TEST(LoadJobConfig, WrongTypes) {
  EXPECT_NE(config_error("steps = \"20\"\n").find(":1: key 'steps': expected an integer, got string"),
            std::string::npos);
  EXPECT_NE(config_error("seed = 1.5\n").find("key 'seed': expected an integer, got floating-point"),
            std::string::npos);
  EXPECT_NE(config_error("guidance = \"high\"\n").find("key 'guidance': expected a number, got string"),
            std::string::npos);
  EXPECT_NE(config_error("sampler = 3\n").find("key 'sampler': expected a string, got integer"),
            std::string::npos);
  EXPECT_NE(config_error("[sampler]\nname = \"ddim\"\n").find(":1: key 'sampler': expected a string, got table"),
            std::string::npos);
}

TEST(LoadJobConfig, OutOfRangeValues) {
  EXPECT_NE(config_error("\n\nwidth = 500\n").find("job.toml:3: key 'width': expected a multiple of 8"),
            std::string::npos);
  EXPECT_NE(config_error("steps = 0\n").find("key 'steps': expected an integer in 1..1000, got 0"),
            std::string::npos);
  EXPECT_NE(config_error("seed = -3\n").find("key 'seed': expected an integer in -1.."), std::string::npos);
  EXPECT_NE(config_error("guidance = nan\n").find("key 'guidance': expected a finite number >= 0"),
            std::string::npos);
  EXPECT_NE(config_error("guidance = inf\n").find("key 'guidance': expected a finite number >= 0"),
            std::string::npos);
  EXPECT_NE(config_error("clip_skip = 0\n").find("key 'clip_skip'"), std::string::npos);
  EXPECT_NE(config_error("height = 8192\n").find("key 'height'"), std::string::npos);
}

TEST(LoadJobConfig, SyntaxErrorNamesFileAndLine) {
  const std::string message = config_error("steps = 20\nwidth = = 3\n");
  EXPECT_NE(message.find("job.toml:2: invalid TOML"), std::string::npos) << message;
}

// Found by fuzz/fuzz_job_config: toml++ 3.3 reached undefined behaviour
// classifying U+00A1..U+0499 where whitespace may stand (see job_config.cpp).
// Under UBSan these aborted; now the first is TOML's own error, the second
// (valid TOML: a line-ending backslash, then U+00A7 on the next line) parses.
TEST(LoadJobConfig, NonAsciiWhereWhitespaceMayStand) {
  const std::string message =
      config_error("# Every key as take.\nnegative_prompt = \u00d764 pi#tures. = \"\nclip_skip = 2\n");
  EXPECT_NE(message.find("job.toml:2: invalid TOML"), std::string::npos) << message;
  EXPECT_NE(config_error("steps = 2\u00e9\n").find("job.toml:1: invalid TOML"), std::string::npos);

  const auto dir = fresh_dir();
  const std::string path =
      write_text(dir / "job.toml", "negative_prompt = \"\"\"blurry, \\\n  \u00a7 \u00e9lan\"\"\"\n");
  EXPECT_EQ(load_job_config(path, JobDefaults{}).negative_prompt, "blurry, \u00a7 \u00e9lan");
}

// Found by fuzz/fuzz_job_config: a table header starting with a character no
// key may start with broke an assumption inside toml++ 3.3 (an abort in a
// debug build; see job_config.cpp). It is a syntax error naming the line.
TEST(LoadJobConfig, TableHeaderWithoutAKey) {
  EXPECT_NE(config_error("steps = 2\n[!]\n").find("job.toml:2: invalid TOML"), std::string::npos);
  EXPECT_NE(config_error("[[[1]]]\n").find("job.toml:1: invalid TOML"), std::string::npos);
  const std::string nul_key = config_error(std::string("negativece = 8\n[\0e]\n", 20));
  EXPECT_NE(nul_key.find("job.toml:2: invalid TOML"), std::string::npos) << nul_key;
}

TEST(LoadJobConfig, MissingFile) {
  const auto dir = fresh_dir();
  const std::string path = (dir / "absent.toml").string();
  try {
    load_job_config(path, JobDefaults{});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read " + path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace farm
