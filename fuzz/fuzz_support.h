// Shared by the libFuzzer targets in this folder. A parser may reject any
// input with farm::Error (a bad file is the user's to fix); every other
// outcome (another exception, a crash, a sanitizer report, a hang) is a
// finding, so only farm::Error is caught here.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "farm/core/error.h"

namespace farm::fuzz {

// Runs one parser call; farm::Error is the expected way to say no.
template <class F>
void expect_farm_errors_only(F&& parse) {
  try {
    parse();
  } catch (const farm::Error&) {
  }
}

// A broken invariant on an accepted input: abort, so libFuzzer keeps the input.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// The parsers that take a path read the fuzz input from a file in a private
// temporary folder (one per process, removed at exit), rewritten per input.
class InputFile {
 public:
  explicit InputFile(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/farm-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("farm fuzz: mkdtemp");
      std::abort();
    }
    dir_ = pattern;
    path_ = dir_ + "/" + name;
  }
  ~InputFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

  // Another name for the same bytes (the prompt loader picks its format by extension).
  std::string alias(const std::string& name) const {
    const std::string p = dir_ + "/" + name;
    std::error_code ignored;
    std::filesystem::remove(p, ignored);
    std::filesystem::create_symlink(path_, p);
    return p;
  }

  const std::string& write(const uint8_t* data, size_t size) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (size_t done = 0; ok && done < size;) {
      const ssize_t n = ::write(fd, data + done, size - done);
      ok = n > 0;
      done += ok ? static_cast<size_t>(n) : 0;
    }
    if (fd >= 0) ::close(fd);
    if (!ok) {
      std::perror("farm fuzz: writing the input file");
      std::abort();
    }
    return path_;
  }

 private:
  std::string dir_, path_;
};

}  // namespace farm::fuzz
