#include "farm/coord/model_defaults.h"

#include <filesystem>
#include <system_error>

#include "farm/core/error.h"

namespace farm {

JobDefaults model_job_defaults(const std::string& model_dir, JobDefaults base) {
  const std::filesystem::path path = std::filesystem::path(model_dir) / kModelDefaultsFile;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) return base;
  // Anything else that is there but unreadable is the model folder's error,
  // not a reason to render with other defaults than it asks for.
  if (ec) fail(path.string(), ": cannot read the model's job defaults: ", ec.message());
  if (!std::filesystem::is_regular_file(status)) {
    fail(path.string(), ": expected a TOML file of job defaults (keys as for --config)");
  }
  return load_job_config(path.string(), base);
}

}  // namespace farm
