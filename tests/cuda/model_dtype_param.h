// The (model folder, dtype) parameter of the emulated model and render tests,
// and its gtest name: "tiny_sd1_f16".
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "kernels/cuda/cuda_common.h"

namespace farm::testing {

using ModelDtype = std::tuple<std::string, kernels::cuda::DType>;

inline std::string model_dtype_name(const ::testing::TestParamInfo<ModelDtype>& info) {
  std::string n = std::get<0>(info.param) + "_" + kernels::cuda::dtype_name(std::get<1>(info.param));
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

}  // namespace farm::testing
