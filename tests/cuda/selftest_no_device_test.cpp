// `farm selftest` where there is no CUDA device (this machine, CI): the
// binary, run as a user runs it, must say so in exactly one line and exit 3.
// On a machine with a device the command runs for real, so the test skips.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <string>

#include "tests/support/run_command.h"

#if FARM_TEST_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

using Result = farm::test::CommandResult;
Result run(const std::string& args) { return farm::test::run_farm(args); }

// The output without the lines the launcher prints when it re-executes
// itself with the cpu backend's environment (kernels/cpu/runtime_env.h).
std::string without_env_lines(const std::string& out) {
  std::istringstream in(out);
  std::string line, kept;
  while (std::getline(in, line))
    if (line.rfind("farm: running with ", 0) != 0) kept += line + "\n";
  return kept;
}

std::string expected_message() {
#if FARM_TEST_HAS_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) return "";
  const std::string why = e != cudaSuccess ? std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e)
                                           : std::string("cudaGetDeviceCount: 0 devices");
#else
  const std::string why = "this build has no CUDA backend: configured with FARM_CUDA=OFF";
#endif
  return "farm selftest: no CUDA device found (" + why + "); nothing to test\n";
}

TEST(CudaSelftestNoDevice, SaysSoInOneLineAndExitsThree) {
  const std::string want = expected_message();
  if (want.empty()) GTEST_SKIP() << "a CUDA device is present: farm selftest would run for real";
  const Result r = run("selftest");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_EQ(without_env_lines(r.output), want);
}

// The options parse before the device check: a bad option is a usage error
// (CLI11's exit code), not "no device".
TEST(CudaSelftestNoDevice, BadOptionIsAUsageError) {
  const Result r = run("selftest --dtype f32");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("--dtype"), std::string::npos) << r.output;
}

}  // namespace
