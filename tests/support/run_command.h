// Runs a shell command line and returns its exit status and everything it
// printed: how tests drive the real `farm` binary.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace farm::test {

struct CommandResult {
  int status = -1;     // exit status; -1 when it did not exit normally
  std::string output;  // what the command line printed (add 2>&1 for stderr)
};

inline CommandResult run_command(const std::string& line) {
  CommandResult r;
  FILE* p = ::popen(line.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// FARM_BIN (the build's farm) with `args`, stdout and stderr together.
inline CommandResult run_farm(const std::string& args) {
  return run_command(std::string(FARM_BIN) + " " + args + " 2>&1");
}

}  // namespace farm::test
