// Errors a user can cause (bad file, bad config, missing weight) are thrown
// as farm::Error with a message naming the input and what was expected.
// Bugs are FARM_ASSERTs, which stay on in release builds.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace farm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// cat("a", 1, 'b') == "a1b" (g++ 12 has no <format>).
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream s;
  (s << ... << std::forward<Args>(args));
  return s.str();
}

template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(cat(std::forward<Args>(args)...));
}

[[noreturn]] void assert_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace farm

#define FARM_ASSERT(cond, ...)                                                             \
  do {                                                                                     \
    if (!(cond)) ::farm::assert_failed(#cond, __FILE__, __LINE__, ::farm::cat(__VA_ARGS__)); \
  } while (0)
