// TOML job defaults (farm/coord/job_config.cpp, over toml++): whatever it
// accepts must pass the same range checks the prompt files obey.
#include <cstdint>

#include "farm/coord/job.h"
#include "farm/coord/job_fields.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const farm::fuzz::InputFile input("job.toml");
  input.write(data, size);
  farm::fuzz::expect_farm_errors_only([&] {
    const farm::JobDefaults d = farm::load_job_config(input.path(), farm::JobDefaults{});
    namespace f = farm::job_fields;
    using farm::fuzz::check;
    check(f::check_prompt(d.negative_prompt, true).empty(), "negative_prompt passes its check");
    check(f::check_seed(d.seed).empty() && f::check_steps(d.steps).empty(), "seed, steps");
    check(f::check_guidance(d.guidance).empty(), "guidance");
    check(f::check_side(d.width).empty() && f::check_side(d.height).empty(), "width, height");
    check(f::check_clip_skip(d.clip_skip).empty(), "clip_skip");
  });
  return 0;
}
