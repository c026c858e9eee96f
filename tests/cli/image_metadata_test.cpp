#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "farm/coord/image_metadata.h"

namespace farm {
namespace {

JobItem sample_item() {
  JobItem item;
  item.index = 3;
  item.source = "jobs/night.jsonl";
  item.line = 9;
  item.prompt = "a lighthouse, (storm:1.2)";
  item.negative_prompt = "blurry, lowres";
  item.seed = 42;
  item.seed_was_random = false;
  item.steps = 20;
  item.guidance = 7.5f;
  item.width = 512;
  item.height = 768;
  item.sampler = "euler_a";
  item.clip_skip = 1;
  return item;
}

// Expected strings follow A1111's infotext layout
// (modules/processing.py create_infotext: "{prompt}\nNegative prompt: {neg}\n{k: v, ...}").
TEST(A1111Parameters, WithNegativePrompt) {
  EXPECT_EQ(a1111_parameters(sample_item(), "v1-5-pruned-emaonly", "Euler a"),
            "a lighthouse, (storm:1.2)\n"
            "Negative prompt: blurry, lowres\n"
            "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: v1-5-pruned-emaonly");
}

TEST(A1111Parameters, NoNegativeLineWhenEmptyAndClipSkipAboveOne) {
  JobItem item = sample_item();
  item.negative_prompt = "";
  item.guidance = 7.0f;
  item.clip_skip = 2;
  item.seed = 9223372036854775807;
  EXPECT_EQ(a1111_parameters(item, "sd21", "DPM++ 2M Karras"),
            "a lighthouse, (storm:1.2)\n"
            "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.0, Seed: 9223372036854775807, Size: 512x768, "
            "Model: sd21, Clip skip: 2");
}

// A1111 keeps <lora:...> in the prompt and lists "Lora hashes" (the first 12
// hex digits of each file's hash); LoRAs from the `loras` field are added as
// tags so that A1111 and Civitai see them too.
TEST(A1111Parameters, LorasAsTagsAndHashes) {
  JobItem item = sample_item();
  item.prompt = "a lighthouse <lora:film:0.6>";
  item.negative_prompt = "";
  item.loras = {{"film", 0.6, "0123456789abcdef0123"}, {"neon", 1.0, "fedcba9876543210fedc"}};
  EXPECT_EQ(a1111_parameters(item, "sd15", "Euler a"),
            "a lighthouse <lora:film:0.6> <lora:neon:1>\n"
            "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: sd15, "
            "Lora hashes: \"film: 0123456789ab, neon: fedcba987654\"");
}

TEST(A1111Parameters, NoModelWhenNameEmpty) {
  EXPECT_EQ(a1111_parameters(sample_item(), "", "Euler a"),
            "a lighthouse, (storm:1.2)\nNegative prompt: blurry, lowres\n"
            "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x768");
}

// Expected values are numpy's spelling of the same float32 values
// (str(numpy.float32(7.3)) == '7.3', str(numpy.float32(7)) == '7.0'), which
// is what A1111 shows for a CFG scale the user typed.
TEST(PythonFloat, ShortestRoundTripSpelling) {
  EXPECT_EQ(python_float(7.5f), "7.5");
  EXPECT_EQ(python_float(7.0f), "7.0");
  EXPECT_EQ(python_float(7.3f), "7.3");
  EXPECT_EQ(python_float(0.0f), "0.0");
  EXPECT_EQ(python_float(12.25f), "12.25");
  EXPECT_EQ(python_float(1.1f), "1.1");
}

TEST(ImageFileName, FiveDigitIndexThenSeed) {
  JobItem item = sample_item();
  item.index = 0;
  EXPECT_EQ(image_file_name(item), "00000-42.png");
  item.index = 99999;
  item.seed = 4294967295;
  EXPECT_EQ(image_file_name(item), "99999-4294967295.png");
  item.index = 123456;
  item.seed = 0;
  EXPECT_EQ(image_file_name(item), "123456-0.png");
}

TEST(ItemJson, WholeItemWithShortestGuidance) {
  JobItem item = sample_item();
  item.guidance = 7.3f;
  item.prompt = "\xE7\x8C\xAB \"quoted\"";
  const nlohmann::json j = nlohmann::json::parse(item_json(item));
  EXPECT_EQ(j.size(), 19u);
  EXPECT_EQ(j["index"], 3);
  EXPECT_EQ(j["source"], "jobs/night.jsonl");
  EXPECT_EQ(j["line"], 9);
  EXPECT_EQ(j["prompt"], "\xE7\x8C\xAB \"quoted\"");
  EXPECT_EQ(j["negative_prompt"], "blurry, lowres");
  EXPECT_EQ(j["seed"], 42);
  EXPECT_EQ(j["seed_was_random"], false);
  EXPECT_EQ(j["steps"], 20);
  EXPECT_EQ(j["guidance"].get<double>(), 7.3);  // the double 7.3, not 7.300000190734863
  EXPECT_EQ(j["width"], 512);
  EXPECT_EQ(j["height"], 768);
  EXPECT_EQ(j["sampler"], "euler_a");
  EXPECT_EQ(j["clip_skip"], 1);
  EXPECT_EQ(j["prompt_syntax"], "a1111");
  EXPECT_EQ(j["text_fix"], "ftfy");
  EXPECT_EQ(j["loras"], nlohmann::json::array());
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["copy"], 0);
  EXPECT_EQ(j["text_chunks"], 1);
  EXPECT_NE(item_json(item).find("\"guidance\":7.3,"), std::string::npos) << item_json(item);
}

TEST(ItemJson, ExtraFieldsAreMergedIn) {
  const nlohmann::json extra = {{"model", "sd15"}, {"render_seconds", 1.5}};
  const nlohmann::json j = nlohmann::json::parse(item_json(sample_item(), extra));
  EXPECT_EQ(j.size(), 21u);
  EXPECT_EQ(j["model"], "sd15");
  EXPECT_EQ(j["render_seconds"], 1.5);
  EXPECT_EQ(j["prompt"], "a lighthouse, (storm:1.2)");
}

}  // namespace
}  // namespace farm
