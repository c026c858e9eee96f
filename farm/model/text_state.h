// A micro-batch's state inside a text encoder (CLIP, Qwen3): what a range of
// the encoder's block list reads and leaves.
#pragma once

#include <cstdint>
#include <vector>

#include "farm/core/tensor.h"

namespace farm::model {

struct TextState {
  std::vector<int64_t> ids;  // [batch · L]
  int64_t batch = 0;
  Tensor h;       // [batch, L, hidden]: the running state
  Tensor pooled;  // [batch, projection_dim]: set by CLIP's text_projection
};

}  // namespace farm::model
