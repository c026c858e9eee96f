// Prompts as A1111 users write them, through the real `farm render` on
// tiny-sd1 (64x64, 2 steps): weights, BREAK and long prompts, LoRAs by tag
// and by the `loras` field, `count`, A1111 sampler names, the `parameters`
// metadata, the errors a user can cause, and resume.
//
// An image is compared by its pixels where two items differ only in how
// they are written (their metadata differs), and as the whole PNG file where
// the same job is rendered twice. The same job on mpirun layouts:
// CMakeLists.txt (render_a1111_*).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "farm/coord/png.h"
#include "tests/render/lora_files.h"
#include "tests/support/run_command.h"

namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(FARM_TEST_DATA) / "tiny-sd1";
const fs::path kMixedJob = fs::path(FARM_RENDER_TESTS) / "a1111_job.jsonl";
const std::string kShort = " --steps 2 --width 64 --height 64";

using Result = farm::test::CommandResult;

class A1111Render : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("farm_a1111_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    loras_ = root_ / "loras";
    farm::test::make_lora_dir(fs::path(FARM_TEST_DATA) / "lora" / "tiny-sd1", loras_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = root_ / name;
    std::ofstream(p) << text;
    return p;
  }
  fs::path out(const std::string& name) const { return root_ / name; }
  // `farm render` of `job` into out(out_name), the short settings, the LoRA folder.
  Result render(const fs::path& job, const std::string& out_name, const std::string& extra = "") {
    return farm::test::run_farm("render --model " + kModel.string() + " --prompts " + job.string() + " --out " +
                                out(out_name).string() + " --lora-dir " + loras_.string() + kShort + " " + extra);
  }
  // Renders and expects success.
  void render_ok(const fs::path& job, const std::string& out_name, const std::string& extra = "") {
    const Result r = render(job, out_name, extra);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  // PNG file name -> its bytes.
  static std::map<std::string, std::string> pngs(const fs::path& dir) {
    std::map<std::string, std::string> files;
    if (fs::exists(dir))
      for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().extension() == ".png") files[e.path().filename().string()] = farm::test::read_bytes(e.path());
    return files;
  }
  std::vector<uint8_t> pixels(const std::string& out_name, const std::string& file) const {
    return farm::decode_png_file((out(out_name) / file).string()).rgb;
  }
  std::string parameters(const std::string& out_name, const std::string& file) const {
    for (const auto& [k, v] : farm::decode_png_file((out(out_name) / file).string()).text)
      if (k == "parameters") return v;
    ADD_FAILURE() << file << " has no parameters chunk";
    return "";
  }
  // The job fails before any image: non-zero exit, farm's error, every
  // needle in the message, no PNG in the output folder.
  void expect_failure(const std::string& job_text, const std::string& extra,
                      std::initializer_list<std::string> needles) {
    const fs::path job = write("job.jsonl", job_text);
    fs::remove_all(out("failed"));
    const Result r = farm::test::run_farm("render --model " + kModel.string() + " --prompts " + job.string() +
                                          " --out " + out("failed").string() + kShort + " " + extra);
    EXPECT_NE(r.status, 0) << job_text << "\n" << r.output;
    EXPECT_NE(r.output.find("farm: error:"), std::string::npos) << r.output;
    for (const auto& n : needles)
      EXPECT_NE(r.output.find(n), std::string::npos) << "missing '" << n << "' in: " << r.output;
    EXPECT_TRUE(pngs(out("failed")).empty()) << "an image was written despite the error in " << job_text;
  }
  std::string lora_dir_flag() const { return "--lora-dir " + loras_.string(); }

  fs::path root_, loras_;
};

// Case 1. Every feature in one job (LoRA A by tag at 0.5, LoRA B by field,
// both, none; weights; BREAK; prompts and negative prompts over 75 tokens;
// an empty prompt; count 2): micro-batches of 1 and of 4 give the same files.
TEST_F(A1111Render, MixedJobIsTheSameAtEveryBatchSize) {
  render_ok(kMixedJob, "batch1", "--batch 1");
  render_ok(kMixedJob, "batch4", "--batch 4");
  const auto one = pngs(out("batch1")), four = pngs(out("batch4"));
  EXPECT_EQ(one.size(), 12u);  // 11 lines, one of them count 2
  ASSERT_EQ(one.size(), four.size());
  for (const auto& [name, bytes] : one) {
    ASSERT_TRUE(four.count(name)) << name << " missing at --batch 4";
    EXPECT_TRUE(bytes == four.at(name)) << name << " differs between --batch 1 and --batch 4";
  }
  // The count-2 line is seeds 8 and 9; the empty prompt rendered.
  EXPECT_TRUE(one.count("00007-8.png") && one.count("00008-9.png") && one.count("00006-7.png"));
}

// Case 2. A LoRA changes the image; at weight 0 it is no LoRA; the kohya and
// PEFT files of the same tensors (make_tiny_loras.py: F16 values in both,
// alpha 6 / 3 in each format's place) give the same image, by tag or field.
TEST_F(A1111Render, LoraChangesTheImageAndFormatsAgree) {
  const fs::path job = write("job.jsonl",
                             R"J({"prompt": "a red circle", "seed": 7}
{"prompt": "a red circle <lora:peft:1>", "seed": 7}
{"prompt": "a red circle <lora:peft:0>", "seed": 7}
{"prompt": "a red circle <lora:kohya:1>", "seed": 7}
{"prompt": "a red circle", "seed": 7, "loras": [{"name": "kohya"}]}
)J");
  render_ok(job, "out");
  const auto none = pixels("out", "00000-7.png");
  EXPECT_NE(none, pixels("out", "00001-7.png")) << "the LoRA did not change the image";
  EXPECT_EQ(none, pixels("out", "00002-7.png")) << "a LoRA at weight 0 changed the image";
  EXPECT_EQ(pixels("out", "00001-7.png"), pixels("out", "00003-7.png")) << "kohya and PEFT files differ";
  EXPECT_EQ(pixels("out", "00003-7.png"), pixels("out", "00004-7.png")) << "tag and loras field differ";
}

// Case 3. (word:1.5) weights the word; (word:1) is the word; plain syntax
// reads the brackets as text.
TEST_F(A1111Render, PromptWeights) {
  const fs::path job = write("job.jsonl",
                             R"J({"prompt": "a photo of a cat", "seed": 7}
{"prompt": "a photo of a (cat:1.5)", "seed": 7}
{"prompt": "a photo of a (cat:1)", "seed": 7}
)J");
  render_ok(job, "a1111");
  render_ok(job, "plain", "--prompt-syntax plain");
  EXPECT_NE(pixels("a1111", "00000-7.png"), pixels("a1111", "00001-7.png")) << "(cat:1.5) is cat";
  EXPECT_EQ(pixels("a1111", "00000-7.png"), pixels("a1111", "00002-7.png")) << "(cat:1) is not cat";
  EXPECT_NE(pixels("a1111", "00001-7.png"), pixels("plain", "00001-7.png")) << "plain syntax read the weight";
  EXPECT_NE(pixels("plain", "00000-7.png"), pixels("plain", "00002-7.png")) << "plain syntax dropped the brackets";
}

// Case 4. count 3 from seed 10 is seeds 10, 11, 12; the seed-11 copy is the
// image of a line with seed 11; --count does the same for every line.
TEST_F(A1111Render, CountRendersConsecutiveSeeds) {
  const fs::path job = write("job.jsonl",
                             R"J({"prompt": "a blue square", "seed": 10, "count": 3}
{"prompt": "a blue square", "seed": 11}
)J");
  render_ok(job, "out");
  const auto files = pngs(out("out"));
  ASSERT_EQ(files.size(), 4u);
  for (const auto& [file, seed] : {std::pair<std::string, int>{"00000-10.png", 10}, {"00001-11.png", 11},
                                   {"00002-12.png", 12}, {"00003-11.png", 11}}) {
    ASSERT_TRUE(files.count(file)) << file;
    EXPECT_NE(parameters("out", file).find(", Seed: " + std::to_string(seed) + ","), std::string::npos) << file;
  }
  EXPECT_EQ(pixels("out", "00001-11.png"), pixels("out", "00003-11.png"));
  EXPECT_NE(pixels("out", "00000-10.png"), pixels("out", "00001-11.png"));

  const fs::path one = write("one.jsonl", "{\"prompt\": \"a blue square\", \"seed\": 10}\n");
  render_ok(one, "flag", "--count 2");
  ASSERT_EQ(pngs(out("flag")).size(), 2u);
  EXPECT_EQ(pixels("flag", "00001-11.png"), pixels("out", "00001-11.png"));
}

// Case 5. A1111's sampler names, any case, are farm's samplers.
TEST_F(A1111Render, A1111SamplerNames) {
  const fs::path job = write("job.jsonl",
                             R"J({"prompt": "a cat", "seed": 3, "sampler": "DPM++ 2M Karras"}
{"prompt": "a cat", "seed": 3, "sampler": "dpmpp_2m_karras"}
{"prompt": "a cat", "seed": 3, "sampler": "dpm++ 2m KARRAS"}
{"prompt": "a cat", "seed": 3, "sampler": "euler_a"}
{"prompt": "a cat", "seed": 3, "sampler": "Euler a"}
)J");
  render_ok(job, "out");
  EXPECT_EQ(pixels("out", "00000-3.png"), pixels("out", "00001-3.png"));
  EXPECT_EQ(pixels("out", "00000-3.png"), pixels("out", "00002-3.png"));
  EXPECT_EQ(pixels("out", "00003-3.png"), pixels("out", "00004-3.png"));
  EXPECT_NE(pixels("out", "00000-3.png"), pixels("out", "00003-3.png"));
  for (const char* f : {"00000-3.png", "00001-3.png", "00002-3.png"})
    EXPECT_NE(parameters("out", f).find("Sampler: DPM++ 2M Karras,"), std::string::npos) << f;
  EXPECT_NE(parameters("out", "00004-3.png").find("Sampler: Euler a,"), std::string::npos);
}

TEST_F(A1111Render, UnknownSamplerListsTheNames) {
  expect_failure("{\"prompt\": \"a cat\", \"seed\": 3}\n{\"prompt\": \"a cat\", \"sampler\": \"Euler b\"}\n", "",
                 {"job.jsonl:2", "Euler b", "dpmpp_2m_karras", "DPM++ 2M Karras", "euler_a", "Euler a"});
  expect_failure("{\"prompt\": \"a cat\"}\n", "--sampler 'DPM++ 3M'", {"DPM++ 3M", "dpmpp_2m", "DPM++ 2M Karras"});
}

// Case 6. The `parameters` chunk, as A1111 writes it: tags as written, the
// `loras` field's LoRAs appended as tags, and each file's hash (computed
// here: sha256 of the tensor data after the safetensors header).
TEST_F(A1111Render, MetadataHasLoraTagsAndHashes) {
  const fs::path job = write("job.jsonl",
                             R"J({"prompt": "a red circle <lora:A:0.5>", "seed": 1}
{"prompt": "a green square", "seed": 2, "loras": [{"name": "B", "weight": 1.0}], "negative_prompt": "blurry"}
{"prompt": "a white circle <lora:A:0.5>", "seed": 3, "loras": [{"name": "B", "weight": 0.25}]}
{"prompt": "", "seed": 4}
)J");
  render_ok(job, "out");
  const std::string a = farm::test::a1111_lora_hash(loras_ / "A.safetensors");
  const std::string b = farm::test::a1111_lora_hash(loras_ / "B.safetensors");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_NE(a, b);
  const std::string tail = "\nSteps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: ";
  EXPECT_EQ(parameters("out", "00000-1.png"),
            "a red circle <lora:A:0.5>" + tail + "1, Size: 64x64, Model: tiny-sd1, Lora hashes: \"A: " + a + "\"");
  EXPECT_EQ(parameters("out", "00001-2.png"), "a green square <lora:B:1>\nNegative prompt: blurry" + tail +
                                                  "2, Size: 64x64, Model: tiny-sd1, Lora hashes: \"B: " + b + "\"");
  EXPECT_EQ(parameters("out", "00002-3.png"), "a white circle <lora:A:0.5> <lora:B:0.25>" + tail +
                                                  "3, Size: 64x64, Model: tiny-sd1, Lora hashes: \"A: " + a +
                                                  ", B: " + b + "\"");
  EXPECT_EQ(parameters("out", "00003-4.png"), tail.substr(1) + "4, Size: 64x64, Model: tiny-sd1");
}

// Case 7. Mistakes in the LoRAs and the prompt syntax end the job before
// any compute, naming the line, the field or the file.
TEST_F(A1111Render, LoraMistakesFailBeforeAnyImage) {
  const std::string dir = lora_dir_flag();
  expect_failure("{\"prompt\": \"a cat <lora:nope:1> <lora:A:1>\"}\n", dir, {"nope", loras_.string(), "not found"});
  expect_failure("{\"prompt\": \"a cat <lora:A:1>\"}\n", "", {"--lora-dir", "A"});
  expect_failure("{\"prompt\": \"a cat\", \"loras\": [{\"name\": \"A\"}]}\n", "", {"--lora-dir"});
  expect_failure("{\"prompt\": \"a cat <hypernet:x:1>\"}\n", dir, {"job.jsonl:1", "hypernet"});
  expect_failure("{\"prompt\": \"a cat <lora:A:notanumber>\"}\n", dir, {"job.jsonl:1", "notanumber"});
  expect_failure("{\"prompt\": \"a cat\", \"negative_prompt\": \"<lora:A:1>\"}\n", dir,
                 {"job.jsonl:1", "negative_prompt", "lora:A"});
  expect_failure("{\"prompt\": \"a cat\"}\n{\"prompt\": \"a cat\", \"loras\": \"x\"}\n", dir, {"job.jsonl:2", "loras"});
  expect_failure("{\"prompt\": \"a cat\", \"loras\": [{\"name\": \"A\", \"weight\": \"high\"}]}\n", dir,
                 {"job.jsonl:1", "loras", "weight"});
  expect_failure("{\"prompt\": \"a cat <lora:A:1>\", \"loras\": [{\"name\": \"A\"}]}\n", dir,
                 {"job.jsonl:1", "more than once"});
}

TEST_F(A1111Render, PromptMistakesFailBeforeAnyImage) {
  expect_failure("{\"prompt\": \"a cat\", \"count\": 0}\n", "", {"job.jsonl:1", "count"});
  expect_failure("{\"prompt\": \"a cat\"}\n", "--count 0", {"count"});
  // Short prompts are not tokenized before the job starts: the weight must
  // still be read then.
  expect_failure("{\"prompt\": \"a cat\", \"seed\": 1}\n{\"prompt\": \"(a:1.2.3)\", \"seed\": 2}\n", "",
                 {"job.jsonl:2", "1.2.3"});
  expect_failure("{\"prompt\": \"a cat\", \"negative_prompt\": \"(a:1.2.3) blurry\"}\n", "", {"job.jsonl:1", "1.2.3"});
  expect_failure("{\"prompt\": \"a cat\"}\n", "--prompt-syntax fancy", {"--prompt-syntax", "fancy"});
  expect_failure("{\"prompt\": \"a cat\"}\n", "--text-fix maybe", {"--text-fix", "maybe"});
}

// A file whose keys patch no layer of the model: the error lists the key.
TEST_F(A1111Render, LoraKeyMatchingNoLayer) {
  expect_failure("{\"prompt\": \"a cat <lora:bogus:1>\"}\n", lora_dir_flag(), {"bogus", "lora_unet_conv_nowhere"});
}

// Case 8. A rerun renders nothing; another LoRA weight, or another file
// under the same name, is another item: the journal says so.
TEST_F(A1111Render, ResumeKnowsTheLoras) {
  const std::string lines = R"J({"prompt": "a red circle <lora:A:0.5>", "seed": 1}
{"prompt": "a green square", "seed": 2, "loras": [{"name": "B", "weight": 1.0}]}
)J";
  const fs::path job = write("job.jsonl", lines);
  render_ok(job, "out");
  const auto first = pngs(out("out"));
  ASSERT_EQ(first.size(), 2u);
  const auto time_of = [&](const std::string& f) { return fs::last_write_time(out("out") / f); };
  const auto t0 = time_of("00000-1.png"), t1 = time_of("00001-2.png");

  Result r = render(job, "out");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("0 to render"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 already done"), std::string::npos) << r.output;
  EXPECT_EQ(time_of("00000-1.png"), t0);
  EXPECT_EQ(time_of("00001-2.png"), t1);

  write("job.jsonl", std::string(R"J({"prompt": "a red circle <lora:A:0.5>", "seed": 1}
{"prompt": "a green square", "seed": 2, "loras": [{"name": "B", "weight": 0.75}]}
)J"));
  r = render(job, "out");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 items differ"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("item 1 (" + job.string() + ":2)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--rerender-changed"), std::string::npos) << r.output;
  EXPECT_EQ(time_of("00001-2.png"), t1);

  // The same name, another file: A's hash is part of the item.
  write("job.jsonl", lines);
  fs::copy_file(loras_ / "B.safetensors", loras_ / "A.safetensors", fs::copy_options::overwrite_existing);
  r = render(job, "out");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("item 0 (" + job.string() + ":1)"), std::string::npos) << r.output;

  r = render(job, "out", "--rerender-changed");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 to render"), std::string::npos) << r.output;
  EXPECT_TRUE(pngs(out("out")).at("00000-1.png") != first.at("00000-1.png")) << "item 0 was not rendered again";
  EXPECT_TRUE(pngs(out("out")).at("00001-2.png") == first.at("00001-2.png"));
}

}  // namespace
