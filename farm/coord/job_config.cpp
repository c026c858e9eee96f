// load_job_config: JobDefaults from a TOML file (toml++, header-only, so it is
// compiled into this file alone).
#include <toml++/toml.h>


#include "farm/coord/atomic_file.h"
#include "farm/coord/job.h"
#include "farm/coord/job_fields.h"
#include "farm/core/error.h"

namespace farm {
namespace {

struct ConfigReader {
  const std::string& path;

  [[noreturn]] void fail_at(const toml::node& node, std::string_view key, const std::string& what) const {
    fail(path, ":", node.source().begin.line, ": key '", key, "': ", what);
  }

  std::int64_t integer(const toml::node& node, std::string_view key) const {
    const auto* v = node.as_integer();
    if (!v) fail_at(node, key, cat("expected an integer, got ", node.type()));
    return v->get();
  }

  // Checked integers are range-limited far inside int, so the cast is exact.
  int small_integer(const toml::node& node, std::string_view key, std::string (*check)(std::int64_t)) const {
    const std::int64_t value = integer(node, key);
    if (std::string why = check(value); !why.empty()) fail_at(node, key, why);
    return static_cast<int>(value);
  }

  std::string string(const toml::node& node, std::string_view key) const {
    const auto* v = node.as_string();
    if (!v) fail_at(node, key, cat("expected a string, got ", node.type()));
    return v->get();
  }
};

}  // namespace

JobDefaults load_job_config(const std::string& toml_path, JobDefaults base) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(toml_path);
  toml::table table;
  try {
    table = toml::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), toml_path);
  } catch (const toml::parse_error& e) {
    fail(toml_path, ":", e.source().begin.line, ": invalid TOML: ", e.description());
  }
  const ConfigReader r{toml_path};
  for (const auto& [key_node, node] : table) {
    const std::string_view key = key_node.str();
    if (key == "negative_prompt") {
      base.negative_prompt = r.string(node, key);
      if (std::string why = job_fields::check_prompt(base.negative_prompt, true); !why.empty()) {
        r.fail_at(node, key, why);
      }
    } else if (key == "seed") {
      base.seed = r.integer(node, key);
      if (std::string why = job_fields::check_seed(base.seed); !why.empty()) r.fail_at(node, key, why);
    } else if (key == "steps") {
      base.steps = r.small_integer(node, key, job_fields::check_steps);
    } else if (key == "guidance") {
      double g;
      if (const auto* i = node.as_integer()) {
        g = static_cast<double>(i->get());
      } else if (const auto* f = node.as_floating_point()) {
        g = f->get();
      } else {
        r.fail_at(node, key, cat("expected a number, got ", node.type()));
      }
      if (std::string why = job_fields::check_guidance(g); !why.empty()) r.fail_at(node, key, why);
      base.guidance = static_cast<float>(g);
    } else if (key == "width") {
      base.width = r.small_integer(node, key, job_fields::check_side);
    } else if (key == "height") {
      base.height = r.small_integer(node, key, job_fields::check_side);
    } else if (key == "sampler") {
      base.sampler = r.string(node, key);
    } else if (key == "clip_skip") {
      base.clip_skip = r.small_integer(node, key, job_fields::check_clip_skip);
    } else {
      r.fail_at(node, key,
                "unknown key (expected one of negative_prompt, seed, steps, guidance, width, height, "
                "sampler, clip_skip)");
    }
  }
  return base;
}

}  // namespace farm
