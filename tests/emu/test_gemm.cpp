// Tiled SGEMM and wmma GEMMs against a plain triple loop. Inputs are small
// integers, so every product and sum is exact in fp32 and the comparison is
// exact; fp16/bf16 hold such integers exactly too.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/emu/options.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

std::vector<float> small_ints(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-4, 4);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(rng));
  return v;
}

// c[m,n] = a[m,k] b[k,n]; b_t: b given as [n,k].
std::vector<float> matmul(const std::vector<float>& a, const std::vector<float>& b, int m, int n, int k,
                          bool b_t = false) {
  std::vector<float> c(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += double{a[i * k + p]} * (b_t ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = static_cast<float>(s);
    }
  return c;
}

double max_abs_diff(const std::vector<float>& x, const std::vector<float>& y) {
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(double{x[i]} - y[i]));
  return d;
}

TEST(EmuSgemm, TiledMatchesPlainLoop) {
  const int m = 48, n = 40, k = 72;  // ragged edges: not multiples of the tile
  const auto a = small_ints(m * k, 1), b = small_ints(k * n, 2);
  DeviceBuffer<float> da(a), db(b), dc(m * n);
  sgemm_tiled(da.get(), db.get(), dc.get(), m, n, k, false);
  EXPECT_EQ(max_abs_diff(dc.to_host(), matmul(a, b, m, n, k)), 0.0);
}

TEST(EmuSgemm, MissingBarrierGivesWrongResult) {
  const int m = 32, n = 32, k = 64;
  const auto a = small_ints(m * k, 3), b = small_ints(k * n, 4);
  DeviceBuffer<float> da(a), db(b), dc(m * n);
  sgemm_tiled(da.get(), db.get(), dc.get(), m, n, k, true);
  EXPECT_GT(max_abs_diff(dc.to_host(), matmul(a, b, m, n, k)), 1.0);
}

TEST(EmuSgemm, SeveralWorkersGiveTheSameResult) {
  const int saved = emu::options().workers;
  emu::options().workers = 4;
  const int m = 64, n = 64, k = 32;
  const auto a = small_ints(m * k, 5), b = small_ints(k * n, 6);
  DeviceBuffer<float> da(a), db(b), dc(m * n);
  sgemm_tiled(da.get(), db.get(), dc.get(), m, n, k, false);
  emu::options().workers = saved;
  EXPECT_EQ(max_abs_diff(dc.to_host(), matmul(a, b, m, n, k)), 0.0);
}

template <class T, class Convert>
std::vector<uint16_t> to_bits(const std::vector<float>& v, Convert convert) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const T h = convert(v[i]);
    std::memcpy(&bits[i], &h, 2);
  }
  return bits;
}

struct WmmaCase {
  bool bf16;
  bool b_col_major;
};

class EmuWmma : public ::testing::TestWithParam<WmmaCase> {};

TEST_P(EmuWmma, GemmMatchesPlainLoop) {
  const auto [bf16, col] = GetParam();
  const int m = 32, n = 80, k = 48;  // 5 tiles along n: one warp of the second block idles
  const auto a = small_ints(m * k, 7), b = small_ints(k * n, 8);
  const auto ha = bf16 ? to_bits<__nv_bfloat16>(a, [](float x) { return __float2bfloat16(x); })
                       : to_bits<__half>(a, [](float x) { return __float2half(x); });
  const auto hb = bf16 ? to_bits<__nv_bfloat16>(b, [](float x) { return __float2bfloat16(x); })
                       : to_bits<__half>(b, [](float x) { return __float2half(x); });
  DeviceBuffer<uint16_t> da(ha), db(hb);
  DeviceBuffer<float> dc(m * n);
  // b_col_major: hand over b as [n,k].
  std::vector<uint16_t> hbt(hb.size());
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j) hbt[j * k + p] = hb[p * n + j];
  DeviceBuffer<uint16_t> dbt(hbt);
  (bf16 ? wmma_gemm_bf16 : wmma_gemm_f16)(da.get(), col ? dbt.get() : db.get(), dc.get(), m, n, k, col);
  EXPECT_EQ(max_abs_diff(dc.to_host(), matmul(a, b, m, n, k)), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Types, EmuWmma,
                         ::testing::Values(WmmaCase{false, false}, WmmaCase{false, true}, WmmaCase{true, false},
                                           WmmaCase{true, true}),
                         [](const auto& info) {
                           return std::string(info.param.bf16 ? "bf16" : "f16") +
                                  (info.param.b_col_major ? "_col" : "_row");
                         });

}  // namespace
}  // namespace farm::emu_test
