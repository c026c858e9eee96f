#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "farm/coord/job.h"
#include "farm/coord/job_seeds.h"
#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

using farm::testing::fresh_dir;
using farm::testing::write_text;

// The names the sched library knows, spelled out so these tests do not depend on it.
bool sampler_known(const std::string& name) {
  static const std::set<std::string> known = {"ddim",     "euler",          "euler_karras",   "euler_a",
                                              "euler_a_karras", "dpmpp_2m", "dpmpp_2m_karras"};
  return known.count(name) != 0;
}

JobDefaults fixed_seed_defaults() {
  JobDefaults d;
  d.seed = 42;
  return d;
}

std::string error_of(const std::string& path, const JobDefaults& d = fixed_seed_defaults()) {
  try {
    load_prompts(path, d, sampler_known);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

TEST(LoadPromptsTxt, OnePromptPerLineSkippingBlanksAndComments) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.txt",
                                      "\xEF\xBB\xBF"
                                      "a red fox\r\n"
                                      "\n"
                                      "# a comment\n"
                                      "   \t\n"
                                      "  caf\xC3\xA9 at night  \r\n"
                                      "   # indented comment\n"
                                      "last line without newline");
  const std::vector<JobItem> items = load_prompts(path, fixed_seed_defaults(), sampler_known);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].prompt, "a red fox");
  EXPECT_EQ(items[1].prompt, "caf\xC3\xA9 at night");
  EXPECT_EQ(items[2].prompt, "last line without newline");
  const int lines[] = {1, 5, 7};
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].index, static_cast<std::int64_t>(i));
    EXPECT_EQ(items[i].line, lines[i]);
    EXPECT_EQ(items[i].source, path);
    EXPECT_EQ(items[i].seed, 42);
    EXPECT_FALSE(items[i].seed_was_random);
    EXPECT_EQ(items[i].steps, 20);
    EXPECT_EQ(items[i].guidance, 7.5f);
    EXPECT_EQ(items[i].width, 512);
    EXPECT_EQ(items[i].height, 512);
    EXPECT_EQ(items[i].sampler, "euler_a");
    EXPECT_EQ(items[i].clip_skip, 1);
    EXPECT_EQ(items[i].negative_prompt, "");
  }
}

TEST(LoadPromptsTxt, RandomSeedsWaitForTheJobSeedThenFit32Bits) {
  const auto dir = fresh_dir();
  std::string text;
  for (int i = 0; i < 64; ++i) text += "prompt " + std::to_string(i) + "\n";
  const std::string path = write_text(dir / "p.txt", text);
  std::vector<JobItem> items = load_prompts(path, JobDefaults{}, sampler_known);
  ASSERT_EQ(items.size(), 64u);
  for (const JobItem& item : items) EXPECT_EQ(item.seed, -1);  // job_seeds.h derives them
  assign_random_seeds(items, 99);
  std::set<std::int64_t> seeds;
  for (const JobItem& item : items) {
    EXPECT_TRUE(item.seed_was_random);
    EXPECT_GE(item.seed, 0);
    EXPECT_LT(item.seed, std::int64_t{1} << 32);
    seeds.insert(item.seed);
  }
  // 64 seeds from 2^32 values collide with probability < 1e-6.
  EXPECT_EQ(seeds.size(), 64u);
}

TEST(LoadPromptsJsonl, FieldsOverrideDefaultsAndMissingOnesInherit) {
  const auto dir = fresh_dir();
  JobDefaults d;
  d.negative_prompt = "blurry";
  d.seed = 7;
  d.steps = 30;
  d.guidance = 5.0f;
  d.width = 640;
  d.height = 384;
  d.sampler = "ddim";
  d.clip_skip = 2;
  const std::string path = write_text(
      dir / "p.jsonl",
      "{\"prompt\": \"a cat\"}\n"
      "\n"
      "{\"prompt\": \"a dog\", \"negative_prompt\": \"\", \"seed\": 9223372036854775807, \"steps\": 1000,"
      " \"guidance\": 0, \"width\": 4096, \"height\": 8, \"sampler\": \"dpmpp_2m_karras\", \"clip_skip\": 12}\r\n"
      "{\"prompt\": \"\\u732b\", \"guidance\": 7.25, \"seed\": -1, \"steps\": 1}\n");
  const std::vector<JobItem> items = load_prompts(path, d, sampler_known);
  ASSERT_EQ(items.size(), 3u);

  EXPECT_EQ(items[0].prompt, "a cat");
  EXPECT_EQ(items[0].line, 1);
  EXPECT_EQ(items[0].negative_prompt, "blurry");
  EXPECT_EQ(items[0].seed, 7);
  EXPECT_FALSE(items[0].seed_was_random);
  EXPECT_EQ(items[0].steps, 30);
  EXPECT_EQ(items[0].guidance, 5.0f);
  EXPECT_EQ(items[0].width, 640);
  EXPECT_EQ(items[0].height, 384);
  EXPECT_EQ(items[0].sampler, "ddim");
  EXPECT_EQ(items[0].clip_skip, 2);

  EXPECT_EQ(items[1].index, 1);
  EXPECT_EQ(items[1].line, 3);
  EXPECT_EQ(items[1].negative_prompt, "");
  EXPECT_EQ(items[1].seed, 9223372036854775807);
  EXPECT_EQ(items[1].steps, 1000);
  EXPECT_EQ(items[1].guidance, 0.0f);
  EXPECT_EQ(items[1].width, 4096);
  EXPECT_EQ(items[1].height, 8);
  EXPECT_EQ(items[1].sampler, "dpmpp_2m_karras");
  EXPECT_EQ(items[1].clip_skip, 12);

  EXPECT_EQ(items[2].prompt, "\xE7\x8C\xAB");  // U+732B as UTF-8
  EXPECT_EQ(items[2].line, 4);
  EXPECT_EQ(items[2].guidance, 7.25f);
  EXPECT_EQ(items[2].steps, 1);
  EXPECT_EQ(items[2].seed, -1);  // random: derived from the job seed later (job_seeds.h)
}

// One bad line 2 of a .jsonl (line 1 is valid): the error names the file,
// the line and the field, and says what was expected.
struct BadLine {
  const char* name;
  std::string line;
  std::string field;  // "" when the line as a whole is bad
  std::string expected;
};

void PrintTo(const BadLine& b, std::ostream* os) { *os << b.name; }

class LoadPromptsBadLine : public ::testing::TestWithParam<BadLine> {};

TEST_P(LoadPromptsBadLine, NamesFileLineAndField) {
  const BadLine& bad = GetParam();
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "job.jsonl", "{\"prompt\": \"fine\"}\n" + bad.line + "\n");
  const std::string message = error_of(path);
  EXPECT_NE(message.find(path + ":2: "), std::string::npos) << message;
  if (!bad.field.empty()) {
    EXPECT_NE(message.find("field '" + bad.field + "'"), std::string::npos) << message;
  }
  EXPECT_NE(message.find(bad.expected), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    EveryErrorKind, LoadPromptsBadLine,
    ::testing::Values(
        BadLine{"steps_zero", R"({"prompt": "p", "steps": 0})", "steps", "expected an integer in 1..1000, got 0"},
        BadLine{"steps_too_many", R"({"prompt": "p", "steps": 1001})", "steps", "got 1001"},
        BadLine{"steps_float", R"({"prompt": "p", "steps": 20.5})", "steps", "expected an integer, got 20.5"},
        BadLine{"steps_string", R"({"prompt": "p", "steps": "20"})", "steps", "expected an integer, got string"},
        BadLine{"width_not_multiple_of_8", R"({"prompt": "p", "width": 500})", "width",
                "expected a multiple of 8 in 8..4096 (pixels), got 500"},
        BadLine{"width_zero", R"({"prompt": "p", "width": 0})", "width", "got 0"},
        BadLine{"width_negative", R"({"prompt": "p", "width": -512})", "width", "got -512"},
        BadLine{"width_too_big", R"({"prompt": "p", "width": 4104})", "width", "got 4104"},
        BadLine{"height_huge", R"({"prompt": "p", "height": 99999999999})", "height", "got 99999999999"},
        BadLine{"guidance_negative", R"({"prompt": "p", "guidance": -0.5})", "guidance",
                "expected a finite number >= 0, got -0.5"},
        BadLine{"number_overflows_double", R"({"prompt": "p", "guidance": 1e999})", "",
                "malformed JSON: number overflow parsing '1e999'"},
        BadLine{"guidance_overflows_float", R"({"prompt": "p", "guidance": 1e39})", "guidance",
                "expected a finite number >= 0"},
        BadLine{"guidance_string", R"({"prompt": "p", "guidance": "7.5"})", "guidance",
                "expected a number, got string"},
        BadLine{"sampler_unknown", R"({"prompt": "p", "sampler": "euler_ancestral"})", "sampler",
                "unknown sampler 'euler_ancestral'"},
        BadLine{"sampler_not_string", R"({"prompt": "p", "sampler": 3})", "sampler", "expected a string, got number"},
        BadLine{"seed_below_minus_one", R"({"prompt": "p", "seed": -2})", "seed",
                "expected an integer in -1..9223372036854775807 (-1: random), got -2"},
        BadLine{"seed_above_int64", R"({"prompt": "p", "seed": 9223372036854775808})", "seed",
                "integer 9223372036854775808 is out of range"},
        BadLine{"seed_float", R"({"prompt": "p", "seed": 1.5})", "seed", "expected an integer, got 1.5"},
        BadLine{"clip_skip_zero", R"({"prompt": "p", "clip_skip": 0})", "clip_skip",
                "expected an integer in 1..12 (1: last layer), got 0"},
        BadLine{"clip_skip_too_big", R"({"prompt": "p", "clip_skip": 13})", "clip_skip", "got 13"},
        BadLine{"count_zero", R"({"prompt": "p", "count": 0})", "count", "count 0 is out of range (1 to 1000)"},
        BadLine{"loras_not_list", R"({"prompt": "p", "loras": "x"})", "loras", "expected a list of"},
        BadLine{"loras_no_name", R"({"prompt": "p", "loras": [{"weight": 1}]})", "loras", "an entry is"},
        BadLine{"loras_twice", R"({"prompt": "p <lora:a:1>", "loras": [{"name": "a"}]})", "loras",
                "LoRA 'a' is given more than once"},
        BadLine{"lora_tag_weight", R"({"prompt": "p <lora:a:strong>"})", "prompt", "weight 'strong' is not a number"},
        BadLine{"hypernet_tag", R"({"prompt": "p <hypernet:h:1>"})", "prompt", "farm has no 'hypernet' extra networks"},
        BadLine{"lora_in_negative", R"({"prompt": "p", "negative_prompt": "<lora:a:1>"})", "negative_prompt",
                "LoRAs apply to the whole image"},
        BadLine{"prompt_missing", R"({"seed": 1})", "prompt", "missing (it is required)"},
        BadLine{"prompt_not_string", R"({"prompt": 5})", "prompt", "expected a string, got number"},
        BadLine{"prompt_nul", R"({"prompt": "a\u0000b"})", "prompt", "contains a NUL character"},
        BadLine{"negative_prompt_null", R"({"prompt": "p", "negative_prompt": null})", "negative_prompt",
                "expected a string, got null"},
        BadLine{"unknown_field_typo", R"({"prompt": "p", "stesp": 20})", "stesp",
                "unknown field (expected one of prompt, negative_prompt, seed"},
        BadLine{"duplicate_field", R"({"prompt": "p", "steps": 20, "steps": 30})", "steps", "given more than once"},
        BadLine{"malformed_json", R"({"prompt": "p",})", "", "malformed JSON at column 16: "},
        BadLine{"truncated_json", R"({"prompt": "p")", "",
                "malformed JSON at column 15: syntax error while parsing object - unexpected end of input"},
        BadLine{"not_an_object", R"(["p", 20])", "", "expected a JSON object, got array"},
        BadLine{"invalid_utf8", "{\"prompt\": \"caf\xE9\"}", "", "invalid UTF-8 at byte 16 of the line"},
        BadLine{"overlong_utf8", "{\"prompt\": \"\xC0\xAF\"}", "", "invalid UTF-8 at byte 13 of the line"}),
    [](const ::testing::TestParamInfo<BadLine>& info) { return std::string(info.param.name); });

// Empty prompts are unconditional images (diffusers and A1111 take them);
// `count` makes N items with seeds seed, seed+1, ...; LoRA tags come first.
TEST(LoadPrompts, EmptyPromptCountAndLoras) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "job.jsonl",
                                      "{\"prompt\": \"\"}\n"
                                      "{\"prompt\": \"a <lora:x:0.5> b\", \"seed\": 10, \"count\": 3, "
                                      "\"loras\": [{\"name\": \"y\"}]}\n"
                                      "{\"prompt\": \"c\", \"count\": 2}\n");
  const std::vector<JobItem> items = load_prompts(path, JobDefaults{}, sampler_known);
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0].prompt, "");
  for (int k = 0; k < 3; ++k) {
    const JobItem& it = items[1 + k];
    EXPECT_EQ(it.index, 1 + k);
    EXPECT_EQ(it.seed, 10 + k);
    EXPECT_EQ(it.copy, k);
    EXPECT_EQ(it.line, 2);
    ASSERT_EQ(it.loras.size(), 2u);
    EXPECT_EQ(it.loras[0].name, "x");
    EXPECT_EQ(it.loras[0].weight, 0.5);
    EXPECT_EQ(it.loras[1].name, "y");
    EXPECT_EQ(it.loras[1].weight, 1.0);
  }
  EXPECT_EQ(items[4].seed, -1);  // random: derived at job set-up from the first copy's index
  EXPECT_EQ(items[5].copy, 1);
  std::vector<JobItem> seeded = items;
  assign_random_seeds(seeded, 99);
  EXPECT_EQ(seeded[4].seed, derived_seed(99, 4));
  EXPECT_EQ(seeded[5].seed, derived_seed(99, 4) + 1);
}

TEST(LoadPrompts, ReportsEveryBadLineAtOnce) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "job.jsonl",
                                      "{\"prompt\": \"ok\"}\n"
                                      "{\"prompt\": \"p\", \"steps\": 0}\n"
                                      "{\"prompt\": \"ok\"}\n"
                                      "{\"prompt\": \"p\", \"width\": 3, \"sampler\": \"nope\"}\n");
  const std::string message = error_of(path);
  EXPECT_NE(message.find("3 errors in job " + path), std::string::npos) << message;
  EXPECT_NE(message.find(path + ":2: field 'steps'"), std::string::npos) << message;
  EXPECT_NE(message.find(path + ":4: field 'width'"), std::string::npos) << message;
  EXPECT_NE(message.find(path + ":4: field 'sampler'"), std::string::npos) << message;
}

TEST(LoadPrompts, CapsTheListOfErrors) {
  const auto dir = fresh_dir();
  std::string text;
  for (int i = 0; i < 25; ++i) text += "{\"prompt\": \"p\", \"steps\": 0}\n";
  const std::string message = error_of(write_text(dir / "job.jsonl", text));
  EXPECT_NE(message.find("25 errors"), std::string::npos) << message;
  EXPECT_NE(message.find(":20: field 'steps'"), std::string::npos) << message;
  EXPECT_EQ(message.find(":21: field 'steps'"), std::string::npos) << message;
  EXPECT_NE(message.find("(and 5 more)"), std::string::npos) << message;
}

TEST(LoadPromptsTxt, InvalidUtf8NamesTheLine) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.txt", "fine\n# comment\nbad \xFF byte\n");
  const std::string message = error_of(path);
  EXPECT_NE(message.find(path + ":3: invalid UTF-8 at byte 5 of the line"), std::string::npos) << message;
}

TEST(LoadPromptsTxt, SurrogateCodePointIsInvalid) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.txt", "\xED\xA0\x80\n");  // U+D800 encoded
  EXPECT_NE(error_of(path).find(path + ":1: invalid UTF-8"), std::string::npos);
}

TEST(LoadPrompts, BadDefaultsAreNamedAsDefaults) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.txt", "a cat\n");
  JobDefaults d = fixed_seed_defaults();
  d.sampler = "plms";
  EXPECT_NE(error_of(path, d).find("job defaults: field 'sampler': unknown sampler 'plms'"), std::string::npos);
  d = fixed_seed_defaults();
  d.guidance = std::nanf("");
  EXPECT_NE(error_of(path, d).find("job defaults: field 'guidance'"), std::string::npos);
  d = fixed_seed_defaults();
  d.height = 100;
  EXPECT_NE(error_of(path, d).find("job defaults: field 'height'"), std::string::npos);
}

TEST(LoadPrompts, UnknownExtension) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.tsv", "a cat\n");
  EXPECT_NE(error_of(path).find("prompt file " + path + ": unknown extension (expected .txt, .jsonl or .csv)"),
            std::string::npos);
}

TEST(LoadPrompts, MissingFile) {
  const auto dir = fresh_dir();
  const std::string path = (dir / "absent.txt").string();
  EXPECT_NE(error_of(path).find("cannot read " + path), std::string::npos);
}

TEST(LoadPrompts, EmptyJobIsAnError) {
  const auto dir = fresh_dir();
  for (const char* name : {"only_comments.txt", "empty.jsonl"}) {
    const std::string path = write_text(dir / name, name[0] == 'o' ? "# nothing\n\n  \n" : "\n\n");
    EXPECT_NE(error_of(path).find("prompt file " + path + ": no prompts (the job is empty)"), std::string::npos)
        << name;
  }
}

// CSV as a spreadsheet exports it (RFC 4180): a header row naming the
// fields in any order, quoted cells with commas, newlines and doubled
// quotes, CRLF, a BOM; empty cells take the defaults.
TEST(LoadPromptsCsv, HeaderNamesTheFieldsAndEmptyCellsTakeTheDefaults) {
  const auto dir = fresh_dir();
  const std::string path = write_text(dir / "p.csv",
                                      "\xEF\xBB\xBF"
                                      "seed,prompt,negative_prompt,steps,guidance,sampler\r\n"
                                      "7,\"a fox, red\",blurry,12,5.5,ddim\r\n"
                                      "\r\n"
                                      ",\"a \"\"quoted\"\" word\nand a second line\",,,,\r\n"
                                      "9,  caf\xC3\xA9 at night  ,,,,euler");
  const std::vector<JobItem> items = load_prompts(path, fixed_seed_defaults(), sampler_known);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].prompt, "a fox, red");
  EXPECT_EQ(items[0].negative_prompt, "blurry");
  EXPECT_EQ(items[0].seed, 7);
  EXPECT_EQ(items[0].steps, 12);
  EXPECT_FLOAT_EQ(items[0].guidance, 5.5f);
  EXPECT_EQ(items[0].sampler, "ddim");
  EXPECT_EQ(items[0].line, 2);
  EXPECT_EQ(items[1].prompt, "a \"quoted\" word\nand a second line");
  EXPECT_EQ(items[1].seed, 42) << "an empty cell takes the default";
  EXPECT_EQ(items[1].steps, JobDefaults{}.steps);
  EXPECT_EQ(items[1].line, 4);
  EXPECT_EQ(items[2].prompt, "caf\xC3\xA9 at night");
  EXPECT_EQ(items[2].sampler, "euler");
  EXPECT_EQ(items[2].line, 6);
  EXPECT_EQ(items[2].index, 2);
}

TEST(LoadPromptsCsv, BadCellsNameTheLineAndColumn) {
  const auto dir = fresh_dir();
  const std::string bad = write_text(dir / "bad.csv",
                                     "prompt,steps,guidance\n"
                                     "a fox,many,7\n"
                                     "a cat,20,high\n"
                                     "a dog,20,7,extra\n"
                                     ",20,7\n");
  const std::string e = error_of(bad);
  EXPECT_NE(e.find("bad.csv:2: field 'steps': expected an integer, got 'many'"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.csv:3: field 'guidance': expected a number, got 'high'"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.csv:4: 4 cells for the header's 3 columns"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.csv:5: field 'prompt': missing"), std::string::npos) << e;

  EXPECT_NE(error_of(write_text(dir / "col.csv", "prompt,sed\na fox,1\n")).find("col.csv:1: field 'sed': unknown column"),
            std::string::npos);
  EXPECT_NE(error_of(write_text(dir / "noprompt.csv", "seed\n1\n")).find("field 'prompt': no such column"),
            std::string::npos);
  EXPECT_NE(error_of(write_text(dir / "open.csv", "prompt\n\"a fox\n")).find("open.csv:2: a quoted field is never closed"),
            std::string::npos);
  EXPECT_NE(error_of(write_text(dir / "after.csv", "prompt\n\"a\"b\n")).find("after.csv:2: text after a closing quote"),
            std::string::npos);
  EXPECT_NE(error_of(write_text(dir / "empty.csv", "")).find("no header row"), std::string::npos);
}

}  // namespace
}  // namespace farm
