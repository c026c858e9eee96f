// Group norm and layer norm with statistics accumulated in double.
//
// Group norm reads x in pixel order (no strided walk per group): each of a
// fixed number of pixel chunks sums per channel, and the chunk partials are
// folded into groups in chunk order. The chunking depends on hw alone, so the result is
// the same for any batch size and any OpenMP thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/ref/check.h"

namespace farm::kernels::cpu {
namespace {

constexpr int64_t kStatChunks = 32;

// Pixels [p0, p1) into per-channel sums acc[c] += (x - center[c])^power,
// power 1 or 2: a loop over channels the compiler vectorises (a loop over a
// group's few channels per pixel did not, and cost a VAE decode seconds).
__attribute__((target_clones("avx512f", "avx2", "default"))) void channel_sums(
    int64_t p0, int64_t p1, int64_t channels, const float* xb, const double* center, int power, double* acc) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = xb + p * channels;
    if (power == 1) {
      for (int64_t c = 0; c < channels; ++c) acc[c] += static_cast<double>(xp[c]) - center[c];
    } else {
      for (int64_t c = 0; c < channels; ++c) {
        const double dev = static_cast<double>(xp[c]) - center[c];
        acc[c] += dev * dev;
      }
    }
  }
}

// Per group: sum over the sample of (x - center[g])^power, power 1 or 2.
// Each pixel chunk sums per channel; the partials then fold into groups in
// chunk order, then channel order.
void group_sums(int64_t hw, int64_t channels, int64_t groups, const float* xb, const double* center,
                int power, double* out) {
  const int64_t cg = channels / groups;
  const int64_t chunk = (hw + kStatChunks - 1) / kStatChunks;
  std::vector<double> partial(static_cast<size_t>(kStatChunks * channels), 0.0), center_c(channels);
  for (int64_t c = 0; c < channels; ++c) center_c[c] = center[c / cg];
#pragma omp parallel for schedule(static) if (hw * channels > 32768)
  for (int64_t ch = 0; ch < kStatChunks; ++ch)
    channel_sums(ch * chunk, std::min(hw, (ch + 1) * chunk), channels, xb, center_c.data(), power,
                 partial.data() + ch * channels);
  for (int64_t g = 0; g < groups; ++g) {
    out[g] = 0.0;
    for (int64_t ch = 0; ch < kStatChunks; ++ch)
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) out[g] += partial[ch * channels + c];
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void normalize_pixel(
    int64_t channels, const float* x, const float* mean, const float* inv_std, const float* gamma,
    const float* beta, bool silu, float* y) {
  if (silu) {
    for (int64_t c = 0; c < channels; ++c)
      y[c] = fast_silu((x[c] - mean[c]) * inv_std[c] * gamma[c] + beta[c]);
  } else {
    for (int64_t c = 0; c < channels; ++c)
      y[c] = (x[c] - mean[c]) * inv_std[c] * gamma[c] + beta[c];
  }
}

}  // namespace

void group_norm(int64_t batch, int64_t hw, int64_t channels, int64_t groups, float eps,
                const float* x, const float* gamma, const float* beta, bool silu, float* y) {
  FARM_KERNEL_CHECK(groups > 0 && channels % groups == 0, "channels not divisible by groups");
  const int64_t cg = channels / groups;
  const double count = static_cast<double>(hw * cg);
  std::vector<double> zero(groups, 0.0), sum(groups), mean(groups), sq(groups);
  std::vector<float> mean_f(channels), inv_std_f(channels);
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x + b * hw * channels;
    float* yb = y + b * hw * channels;
    group_sums(hw, channels, groups, xb, zero.data(), 1, sum.data());
    for (int64_t g = 0; g < groups; ++g) mean[g] = sum[g] / count;
    group_sums(hw, channels, groups, xb, mean.data(), 2, sq.data());
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t g = c / cg;
      mean_f[c] = static_cast<float>(mean[g]);
      inv_std_f[c] = 1.0f / std::sqrt(static_cast<float>(sq[g] / count) + eps);
    }
#pragma omp parallel for schedule(static) if (hw * channels > 32768)
    for (int64_t p = 0; p < hw; ++p)
      normalize_pixel(channels, xb + p * channels, mean_f.data(), inv_std_f.data(), gamma, beta,
                      silu, yb + p * channels);
  }
}

void layer_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma,
                const float* beta, float* y) {
  const double count = static_cast<double>(channels);
#pragma omp parallel for schedule(static) if (rows * channels > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    double sum = 0.0;
    for (int64_t c = 0; c < channels; ++c) sum += xr[c];
    const double mean = sum / count;
    double sq = 0.0;
    for (int64_t c = 0; c < channels; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
    const float mean_f = static_cast<float>(mean);
    const float inv_std = 1.0f / std::sqrt(static_cast<float>(sq / count) + eps);
    for (int64_t c = 0; c < channels; ++c) yr[c] = (xr[c] - mean_f) * inv_std * gamma[c] + beta[c];
  }
}

void rms_norm(int64_t rows, int64_t channels, float eps, const float* x, const float* gamma, float* y) {
  const double count = static_cast<double>(channels);
#pragma omp parallel for schedule(static) if (rows * channels > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    double sq = 0.0;
    for (int64_t c = 0; c < channels; ++c) sq += static_cast<double>(xr[c]) * xr[c];
    const float inv_rms = 1.0f / std::sqrt(static_cast<float>(sq / count) + eps);
    for (int64_t c = 0; c < channels; ++c) yr[c] = gamma[c] * (xr[c] * inv_rms);
  }
}

}  // namespace farm::kernels::cpu
