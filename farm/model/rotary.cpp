#include "farm/model/rotary.h"

#include <cmath>
#include <vector>

#include "farm/core/error.h"

namespace farm::model {

Tensor rotary_table_1d(int64_t first, int64_t count, int64_t head_dim, double theta) {
  FARM_ASSERT(head_dim > 0 && head_dim % 2 == 0 && count >= 0, "rotary head_dim ", head_dim);
  const int64_t half = head_dim / 2;
  // base ** (arange(0, dim, 2).float() / dim), 1.0 / that: fp32 throughout.
  std::vector<float> inv_freq(static_cast<size_t>(half));
  const auto base = static_cast<float>(theta);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(base, exponent);
  }
  Tensor table({count, half, 2});
  float* t = table.ptr();
  for (int64_t p = 0; p < count; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(first + p) * inv_freq[static_cast<size_t>(i)];
      t[(p * half + i) * 2] = std::cos(angle);
      t[(p * half + i) * 2 + 1] = std::sin(angle);
    }
  return table;
}

}  // namespace farm::model
