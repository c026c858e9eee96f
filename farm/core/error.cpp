#include "farm/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace farm {

void assert_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "farm: internal error: %s failed at %s:%d%s%s\n", expr, file, line,
               msg.empty() ? "" : ": ", msg.c_str());
  std::abort();
}

}  // namespace farm
