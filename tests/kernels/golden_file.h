// Reader for tests/data/kernels/goldens.{json,bin}, written by
// tools/reference/make_kernel_reference.py: per case, named float32 tensors
// (inputs and the torch output "y") stored back to back in the .bin.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace farm::kernels::testing {

struct GoldenTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct GoldenCase {
  std::string op;
  std::map<std::string, GoldenTensor> tensors;
};

// name -> case. Throws std::runtime_error naming the file on a missing or
// malformed file.
std::map<std::string, GoldenCase> load_goldens(const std::string& dir);

}  // namespace farm::kernels::testing
