// ldmatrix and mma.sync m16n8k16 on the emulator, lane by lane against the
// fragment tables of the PTX ISA (9.7.14.5.8 "Matrix Fragments for
// mma.m16n8k16 with floating point type", 9.7.14.5.15 "ldmatrix"), written
// out here independently of kernels/emu/warp_matrix.cpp; then a GEMM built
// from them against a plain loop (small integers: exact), and misuse.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/emu/warp_matrix.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emu_test_kernels.h"

namespace farm::emu_test {
namespace {

// Element (matrix j, row r, column c) of the ldmatrix source holds j*64 + r*8 + c.
std::vector<uint16_t> ldmatrix_source() {
  std::vector<uint16_t> src(32 * 8);
  for (int j = 0; j < 4; ++j)
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) src[((8 * j + r) * 5 % 32) * 8 + c] = static_cast<uint16_t>(j * 64 + r * 8 + c);
  return src;
}

std::vector<uint32_t> run_ldmatrix(int num, bool trans) {
  DeviceBuffer<uint16_t> src(ldmatrix_source());
  DeviceBuffer<uint32_t> out(32 * num);
  ldmatrix_layout(src.get(), out.get(), num, trans);
  return out.to_host();
}

uint32_t pair(unsigned lo, unsigned hi) { return lo | hi << 16; }

TEST(EmuLdmatrix, HandDerivedLanesX4) {
  const auto v = run_ldmatrix(4, false);
  // Lane l holds row l/4, columns 2(l%4), 2(l%4)+1 of every matrix.
  EXPECT_EQ(v[0 * 4 + 0], pair(0, 1));             // lane 0, matrix 0: (0,0) (0,1)
  EXPECT_EQ(v[1 * 4 + 0], pair(2, 3));             // lane 1: (0,2) (0,3)
  EXPECT_EQ(v[5 * 4 + 0], pair(10, 11));           // lane 5: (1,2) (1,3)
  EXPECT_EQ(v[31 * 4 + 0], pair(62, 63));          // lane 31: (7,6) (7,7)
  EXPECT_EQ(v[31 * 4 + 3], pair(192 + 62, 192 + 63));  // lane 31, matrix 3
  EXPECT_EQ(v[9 * 4 + 2], pair(128 + 18, 128 + 19));   // lane 9, matrix 2: (2,2) (2,3)
}

TEST(EmuLdmatrix, HandDerivedLanesX4Trans) {
  const auto v = run_ldmatrix(4, true);
  // .trans: lane l holds rows 2(l%4), 2(l%4)+1 of column l/4.
  EXPECT_EQ(v[0 * 4 + 0], pair(0, 8));             // (0,0) (1,0)
  EXPECT_EQ(v[1 * 4 + 0], pair(16, 24));           // (2,0) (3,0)
  EXPECT_EQ(v[5 * 4 + 0], pair(17, 25));           // (2,1) (3,1)
  EXPECT_EQ(v[31 * 4 + 0], pair(55, 63));          // (6,7) (7,7)
  EXPECT_EQ(v[6 * 4 + 1], pair(64 + 33, 64 + 41)); // matrix 1: (4,1) (5,1)
}

class EmuLdmatrixAll : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(EmuLdmatrixAll, EveryLaneEveryMatrix) {
  const auto [num, trans] = GetParam();
  const auto v = run_ldmatrix(num, trans);
  for (unsigned l = 0; l < 32; ++l)
    for (int j = 0; j < num; ++j) {
      const unsigned g = l / 4, t2 = l % 4 * 2, base = j * 64;
      const uint32_t want = trans ? pair(base + t2 * 8 + g, base + (t2 + 1) * 8 + g)
                                  : pair(base + g * 8 + t2, base + g * 8 + t2 + 1);
      EXPECT_EQ(v[l * num + j], want) << "lane " << l << " matrix " << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmuLdmatrixAll,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

uint16_t bits_of(float v, bool bf16) {
  return bf16 ? static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(v)).x
              : static_cast<__half_raw>(__float2half_rn(v)).x;
}

std::vector<float> small_ints(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-6, 6);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(rng));
  return v;
}

// The PTX ISA's m16n8k16 tables, g = lane >> 2, t = lane % 4.
int a_row(int g, int i) { return (i < 2 || (i >= 4 && i < 6)) ? g : g + 8; }
int a_col(int t, int i) { return t * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
int b_row(int t, int i) { return t * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
int c_row(int g, int i) { return i < 2 ? g : g + 8; }
int c_col(int t, int i) { return t * 2 + (i & 1); }

class EmuMma : public ::testing::TestWithParam<bool> {};

TEST_P(EmuMma, RegisterLayoutsMatchThePtxTables) {
  const bool bf16 = GetParam();
  const auto a = small_ints(16 * 16, 1), b = small_ints(16 * 8, 2), c = small_ints(16 * 8, 3);
  std::vector<uint32_t> fa(32 * 4, 0), fb(32 * 2, 0);
  std::vector<float> fc(32 * 4);
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l % 4;
    for (int i = 0; i < 8; ++i)
      fa[l * 4 + i / 2] |= uint32_t{bits_of(a[a_row(g, i) * 16 + a_col(t, i)], bf16)} << (16 * (i % 2));
    for (int i = 0; i < 4; ++i) fb[l * 2 + i / 2] |= uint32_t{bits_of(b[b_row(t, i) * 8 + g], bf16)} << (16 * (i % 2));
    for (int i = 0; i < 4; ++i) fc[l * 4 + i] = c[c_row(g, i) * 8 + c_col(t, i)];
  }
  DeviceBuffer<uint32_t> da(fa), db(fb);
  DeviceBuffer<float> dc(fc), dd(32 * 4);
  mma_registers(da.get(), db.get(), dc.get(), dd.get(), bf16);
  const auto d = dd.to_host();
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = c_row(g, i), col = c_col(t, i);
      float want = c[row * 8 + col];
      for (int k = 0; k < 16; ++k) want += a[row * 16 + k] * b[k * 8 + col];
      EXPECT_EQ(d[l * 4 + i], want) << "lane " << l << " d" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, EmuMma, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "bf16" : "f16"; });

struct GemmCase {
  bool bf16, b_nk;
  int pad;
};

class EmuMmaGemm : public ::testing::TestWithParam<GemmCase> {};

TEST_P(EmuMmaGemm, MatchesPlainLoop) {
  const auto [bf16, b_nk, pad] = GetParam();
  const int k = 64;
  const auto a = small_ints(32 * k, 4), b = small_ints(k * 32, 5);  // b: [32,k] if b_nk else [k,32]
  std::vector<uint16_t> ha(a.size()), hb(b.size());
  for (size_t i = 0; i < a.size(); ++i) ha[i] = bits_of(a[i], bf16);
  for (size_t i = 0; i < b.size(); ++i) hb[i] = bits_of(b[i], bf16);
  DeviceBuffer<uint16_t> da(ha), db(hb);
  DeviceBuffer<float> dc(32 * 32);
  const auto before = emu::warp_matrix_counters();
  mma_gemm(da.get(), db.get(), dc.get(), k, b_nk, pad, bf16);
  const auto after = emu::warp_matrix_counters();
  const auto c = dc.to_host();
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) {
      float want = 0;
      for (int p = 0; p < k; ++p) want += a[i * k + p] * (b_nk ? b[j * k + p] : b[p * 32 + j]);
      EXPECT_EQ(c[i * 32 + j], want) << i << ',' << j;
    }
  // 4 warps x 4 k steps x 2 ldmatrix.x4; conflict free with 8 elements (16
  // bytes) of padding per row; unpadded 64-element rows are 128 bytes apart,
  // so all 8 rows of a matrix hit the same 4 banks: 8 wavefronts each.
  EXPECT_EQ(after.ldmatrix_instructions - before.ldmatrix_instructions, 32);
  EXPECT_EQ(after.mma_instructions - before.mma_instructions, 32);
  const int64_t matrices = after.ldmatrix_matrices - before.ldmatrix_matrices;
  const int64_t waves = after.ldmatrix_wavefronts - before.ldmatrix_wavefronts;
  EXPECT_EQ(matrices, 128);
  if (pad == 8) {
    EXPECT_EQ(waves, matrices);
  } else if (b_nk) {
    EXPECT_EQ(waves, 8 * matrices);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, EmuMmaGemm,
                         ::testing::Values(GemmCase{false, true, 8}, GemmCase{false, false, 8},
                                           GemmCase{true, true, 8}, GemmCase{true, false, 8},
                                           GemmCase{false, true, 0}));

class EmuWarpMatrixMisuse : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(EmuWarpMatrixMisuse, LdmatrixWithExitedLanes) {
  EXPECT_DEATH(ldmatrix_exited_lanes(), "ldmatrix mask 0xffffffff names lane 16 which has exited");
}
TEST_F(EmuWarpMatrixMisuse, LdmatrixMisalignedRow) {
  EXPECT_DEATH(ldmatrix_misaligned(), "ldmatrix at .*warp_matrix.cu:[0-9]+: row address .*lane 3\\].*not 16-byte aligned");
}
TEST_F(EmuWarpMatrixMisuse, MmaAtDivergentCallSites) {
  EXPECT_DEATH(mma_divergent(), "mma.sync: lanes of one warp at different call sites");
}

}  // namespace
}  // namespace farm::emu_test
