// Prompt files (farm/coord/job_prompts.cpp): every input is read as a .txt, a
// .jsonl and a .csv file, so one corpus of real-looking files of all three
// kinds feeds the three readers. load_prompts takes a path (it names the file
// in its errors), so the input goes through a temporary file.
#include <cstdint>
#include <set>
#include <string>

#include "farm/coord/job.h"
#include "farm/coord/job_fields.h"
#include "fuzz/fuzz_support.h"

namespace {

bool sampler_known(const std::string& name) {
  static const std::set<std::string> known = {"ddim",           "euler",    "euler_karras",   "euler_a",
                                              "euler_a_karras", "dpmpp_2m", "dpmpp_2m_karras"};
  return known.count(name) != 0;
}

// What the coordinator relies on for every item load_prompts returns.
void check_items(const std::vector<farm::JobItem>& items) {
  using farm::fuzz::check;
  namespace f = farm::job_fields;
  check(!items.empty(), "an accepted file has items");
  for (size_t i = 0; i < items.size(); ++i) {
    const farm::JobItem& item = items[i];
    check(item.index == static_cast<int64_t>(i), "indices count from 0 in file order");
    check(item.line >= 1, "lines are 1-based");
    check(f::check_prompt(item.prompt, false).empty(), "the prompt passes its check");
    check(f::check_prompt(item.negative_prompt, true).empty(), "the negative prompt passes its check");
    check(f::check_seed(item.seed).empty(), "a fixed seed, or -1 for one derived later");
    check(f::check_steps(item.steps).empty() && f::check_guidance(item.guidance).empty(), "steps, guidance");
    check(f::check_side(item.width).empty() && f::check_side(item.height).empty(), "width, height");
    check(f::check_clip_skip(item.clip_skip).empty() && sampler_known(item.sampler), "clip_skip, sampler");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const farm::fuzz::InputFile input("prompts.txt");
  static const std::string paths[] = {input.path(), input.alias("prompts.jsonl"), input.alias("prompts.csv")};
  input.write(data, size);
  for (const std::string& path : paths) {
    farm::fuzz::expect_farm_errors_only(
        [&] { check_items(farm::load_prompts(path, farm::JobDefaults{}, sampler_known)); });
  }
  return 0;
}
