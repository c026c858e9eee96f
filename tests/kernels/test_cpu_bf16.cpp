// The cpu backend's bf16 mode (kernels/cpu/bf16_gemm.h, bf16_ops.h,
// kernels/host/cpu_bf16_backend.cpp):
//  - the GEMM against exact arithmetic: products of the bf16-rounded inputs
//    summed in double, with the fp32 summation bound (K + 1)·2^-24·Σ|a·b|,
//    for every kernel this CPU runs (AMX where present, the portable loop
//    always) and for edge shapes (1, 15, 16, 17, 33 ... rows/columns/depths);
//  - rounding and packing against farm/core's own float_to_bf16;
//  - conv2d, linear and attention on the backend against the fp32 ref ops,
//    with the flash-attention tests' rule (kernels/check/precision_bound.h):
//    error at most twice that of ref run on the bf16-rounded inputs with a
//    bf16-rounded output, plus one bf16 unit at the largest output;
//  - batch and thread-count invariance of those ops on the backend.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "farm/core/tensor.h"
#include "kernels/backend.h"
#include "kernels/check/kernel_cases.h"
#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cpu/bf16_ops.h"

namespace farm::kernels {
namespace {

using cpu::Bf16Isa;
using cpu::PackedBf16;

float round_bf16(float v) { return bf16_to_float(float_to_bf16(v)); }

std::vector<float> random_values(int64_t n, uint32_t seed, bool wide) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_int_distribution<int> e(-6, 6);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = wide ? std::ldexp(d(rng), e(rng)) : d(rng);
  return v;
}

struct Packed {
  std::vector<uint16_t> data;
  PackedBf16 w;
  Packed(const std::vector<float>& src, int64_t n, int64_t k)
      : data(static_cast<size_t>(cpu::packed_elements(n, k)), 0xffff) {
    cpu::pack_bf16(src.data(), n, k, k, 1, data.data());
    w = {n, k, cpu::pad_to(n, 16), cpu::pad_to(k, 32), data.data()};
  }
};

std::vector<Bf16Isa> isas() {
  std::vector<Bf16Isa> v{Bf16Isa::portable};
  if (cpu::amx_available()) v.push_back(Bf16Isa::amx);
  return v;
}

TEST(CpuBf16, RoundingMatchesFloatToBf16) {
  auto x = random_values(4099, 1, true);
  x.insert(x.end(), {0.0f, -0.0f, INFINITY, -INFINITY, 3.0e38f, 1.00390625f, 1.01171875f, -1.00390625f});
  std::vector<uint16_t> got(x.size());
  cpu::to_bf16(x.data(), static_cast<int64_t>(x.size()), got.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], float_to_bf16(x[i])) << x[i];
  const float nan = std::nanf("");
  uint16_t n = 0;
  cpu::to_bf16(&nan, 1, &n);
  EXPECT_TRUE(std::isnan(bf16_to_float(n)));
}

TEST(CpuBf16, PackingKeepsEveryElementAndZeroPads) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 1}, {17, 33}, {32, 64}, {5, 100}}) {
    const auto src = random_values(n * k, 2, true);
    Packed p(src, n, k);
    int64_t nonzero = 0;
    for (uint16_t v : p.data) nonzero += v != 0;
    EXPECT_LE(nonzero, n * k) << "padding must be zero";
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
      cpu::unpack_row(p.w, r, row.data());
      for (int64_t c = 0; c < k; ++c) {
        ASSERT_EQ(row[c], round_bf16(src[r * k + c])) << r << "," << c;
        ASSERT_EQ(cpu::packed_at(p.w, r, c), row[c]);
      }
    }
    // A transposed source packs the transpose.
    std::vector<uint16_t> t(static_cast<size_t>(cpu::packed_elements(k, n)));
    cpu::pack_bf16(src.data(), k, n, 1, k, t.data());
    const PackedBf16 tw{k, n, cpu::pad_to(k, 16), cpu::pad_to(n, 32), t.data()};
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) ASSERT_EQ(cpu::packed_at(tw, c, r), round_bf16(src[r * k + c]));
  }
}

// C from the kernel `isa` against exact sums of the rounded products.
void check_gemm(Bf16Isa isa, int64_t m, int64_t n, int64_t k, uint32_t seed) {
  const auto a = random_values(m * k, seed, true), w = random_values(n * k, seed + 1, true);
  Packed p(w, n, k);
  const int64_t m_pad = cpu::pad_to(m, 32);
  std::vector<uint16_t> ab(static_cast<size_t>(m_pad * p.w.k_pad), 0);
  for (int64_t r = 0; r < m; ++r) cpu::to_bf16(a.data() + r * k, k, ab.data() + r * p.w.k_pad);
  std::vector<float> c(static_cast<size_t>(m_pad * p.w.n_pad), NAN);
  cpu::gemm_bf16_rows(isa, ab.data(), p.w.k_pad, m_pad, p.w, 0, p.w.n_pad, c.data(), p.w.n_pad);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, mag = 0;
      for (int64_t q = 0; q < k; ++q) {
        const double prod = static_cast<double>(round_bf16(a[r * k + q])) * round_bf16(w[j * k + q]);
        exact += prod;
        mag += std::abs(prod);
      }
      const double bound = static_cast<double>(k + 1) * std::ldexp(1.0, -24) * mag + 1e-37;
      ASSERT_LE(std::abs(c[r * p.w.n_pad + j] - exact), bound)
          << cpu::bf16_isa_name(isa) << " " << m << "x" << n << "x" << k << " at " << r << "," << j;
    }
}

TEST(CpuBf16, GemmMatchesExactArithmeticOnEdgeShapes) {
  uint32_t seed = 10;
  for (Bf16Isa isa : isas())
    for (int64_t m : {1, 17, 33})
      for (int64_t n : {1, 15, 16, 17, 33, 48})
        for (int64_t k : {1, 31, 32, 33, 77, 300}) check_gemm(isa, m, n, k, seed++);
}

TEST(CpuBf16, GemmMatchesExactArithmeticOnAnSdShape) {
  for (Bf16Isa isa : isas()) check_gemm(isa, 96, 320, 2880, 99);
}

// The backend's conv2d / linear / attention on a KernelCase, through Backend.
std::vector<float> run_on_backend(Backend& be, const testing::KernelCase& c, int64_t batch,
                                  const std::vector<std::vector<float>>& in) {
  auto host = [](const std::vector<float>& v, Shape s) { return Tensor(std::move(s), v); };
  const int64_t out_n = testing::output_per_sample(c) * batch;
  Tensor y(Shape{out_n});
  if (c.op == testing::OpKind::linear) {
    const Tensor x = host(in[0], {batch * c.rows * c.in});
    const Tensor w = be.weight(host(in[1], {c.out, c.in}));
    const Tensor b = c.bias ? be.weight(host(in[2], {c.out})) : Tensor();
    const Tensor r = c.residual ? host(in[c.bias ? 3 : 2], {out_n}) : Tensor();
    be.linear(batch, c.rows, c.in, c.out, x, w, c.bias ? &b : nullptr, c.residual ? &r : nullptr, y);
  } else if (c.op == testing::OpKind::conv2d) {
    Conv2dArgs a = c.conv;
    a.batch = batch;
    const Tensor x = host(in[0], {static_cast<int64_t>(in[0].size())});
    const Tensor w = be.weight(host(in[1], {a.out_c, a.kernel, a.kernel, a.in_c}));
    const Tensor b = c.bias ? be.weight(host(in[2], {a.out_c})) : Tensor();
    const Tensor r = c.residual ? host(in[c.bias ? 3 : 2], {out_n}) : Tensor();
    be.conv2d(a, x, w, c.bias ? &b : nullptr, c.residual ? &r : nullptr, y);
  } else {
    AttentionArgs a = c.attn;
    a.batch = batch;
    be.attention(a, host(in[0], {static_cast<int64_t>(in[0].size())}), host(in[1], {static_cast<int64_t>(in[1].size())}),
                 host(in[2], {static_cast<int64_t>(in[2].size())}), y);
  }
  return {y.data.begin(), y.data.end()};
}

bool gemm_op(const testing::KernelCase& c) {
  return !c.sd15 && (c.op == testing::OpKind::linear || c.op == testing::OpKind::conv2d ||
                     c.op == testing::OpKind::attention);
}

TEST(CpuBf16, OpsWithinTheBf16BoundOfTheFp32Reference) {
  const auto be = make_cpu_bf16_backend();
  int checked = 0;
  for (const auto& c : testing::kernel_cases()) {
    if (!gemm_op(c)) continue;
    const auto in = testing::random_inputs(c, c.batch, 7);
    std::vector<const float*> ptrs, rounded_ptrs;
    std::vector<std::vector<float>> rounded = in;
    for (auto& t : rounded)
      for (float& v : t) v = round_bf16(v);
    for (size_t i = 0; i < in.size(); ++i) ptrs.push_back(in[i].data()), rounded_ptrs.push_back(rounded[i].data());
    const int64_t n = testing::output_per_sample(c) * c.batch;
    std::vector<float> want(static_cast<size_t>(n)), baseline(static_cast<size_t>(n));
    testing::run_case(ref_ops(), c, c.batch, ptrs, want.data());
    testing::run_case(ref_ops(), c, c.batch, rounded_ptrs, baseline.data());
    const auto got = run_on_backend(*be, c, c.batch, in);
    double kernel_err = 0, baseline_err = 0, peak = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_FALSE(std::isnan(got[i])) << c.name;
      kernel_err = std::max(kernel_err, static_cast<double>(std::abs(got[i] - want[i])));
      baseline_err = std::max(baseline_err, static_cast<double>(std::abs(round_bf16(baseline[i]) - want[i])));
      peak = std::max(peak, static_cast<double>(std::abs(want[i])));
    }
    const double bound = 2 * baseline_err + std::ldexp(peak, -8);
    std::printf("[bf16] %-36s error %.3e  bound %.3e  (rounded-reference error %.3e, |ref| max %.3g)\n",
                c.name.c_str(), kernel_err, bound, baseline_err, peak);
    EXPECT_LE(kernel_err, bound) << c.name << ": baseline error " << baseline_err;
    EXPECT_GT(kernel_err, 0.0) << c.name << ": bf16 rounding should show";
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

TEST(CpuBf16, OpsAreBatchAndThreadCountInvariant) {
  const auto be = make_cpu_bf16_backend();
  for (const auto& c : testing::kernel_cases()) {
    if (!gemm_op(c)) continue;
    constexpr int64_t kBatch = 3;
    const auto in = testing::random_inputs(c, kBatch, 11);
    const auto specs = testing::input_specs(c);
    const auto batched = run_on_backend(*be, c, kBatch, in);
    const int64_t out_n = testing::output_per_sample(c);
    for (int64_t s = 0; s < kBatch; ++s) {
      std::vector<std::vector<float>> alone;
      for (size_t t = 0; t < specs.size(); ++t) {
        const int64_t per = specs[t].per_sample;
        const float* src = in[t].data() + (specs[t].batched ? s * per : 0);
        alone.emplace_back(src, src + per);
      }
      const auto one = run_on_backend(*be, c, 1, alone);
      EXPECT_EQ(std::memcmp(one.data(), batched.data() + s * out_n, sizeof(float) * out_n), 0)
          << c.name << ": sample " << s << " alone differs from batch " << kBatch;
    }
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto single = run_on_backend(*be, c, kBatch, in);
    omp_set_num_threads(threads);
    EXPECT_EQ(std::memcmp(single.data(), batched.data(), sizeof(float) * batched.size()), 0)
        << c.name << ": one thread differs from " << threads;
  }
}

// The direct conv (stride 1, Cin % 32, width % 16: bands of rows read in
// place) against im2col: the same bf16 values in the same k order, so the
// same bits, with bias and residual, 1×1 and 3×3, padded and not, bands
// that split the image unevenly.
TEST(CpuBf16, DirectConvGivesTheBitsOfIm2col) {
  struct Geometry {
    int64_t batch, h, w, ci, co;
    int kernel, pad;
    bool residual;
  };
  for (const Geometry g : {Geometry{2, 7, 16, 32, 40, 3, 1, false}, Geometry{1, 5, 48, 64, 16, 3, 1, true},
                           Geometry{2, 4, 32, 32, 24, 1, 0, true}, Geometry{1, 11, 18, 32, 20, 3, 0, false},
                           Geometry{3, 3, 16, 96, 33, 3, 1, true}}) {
    Conv2dArgs a;
    a.batch = g.batch, a.in_h = g.h, a.in_w = g.w, a.in_c = g.ci, a.out_c = g.co, a.kernel = g.kernel, a.pad = g.pad;
    const int64_t out_n = a.batch * a.out_h() * a.out_w() * g.co;
    const auto x = random_values(a.batch * g.h * g.w * g.ci, 21, true);
    const Packed w(random_values(g.co * g.kernel * g.kernel * g.ci, 22, false), g.co, g.kernel * g.kernel * g.ci);
    const auto bias = random_values(g.co, 23, false), residual = random_values(out_n, 24, false);
    std::vector<float> direct(static_cast<size_t>(out_n)), im2col(static_cast<size_t>(out_n));
    const float* r = g.residual ? residual.data() : nullptr;
    cpu::conv2d_bf16(a, x.data(), w.w, bias.data(), r, direct.data());
    cpu::conv2d_bf16_im2col(a, 1, x.data(), w.w, bias.data(), r, im2col.data());
    EXPECT_EQ(std::memcmp(direct.data(), im2col.data(), sizeof(float) * direct.size()), 0)
        << g.h << "x" << g.w << " ci " << g.ci << " k " << g.kernel;
  }
}

// GEGLU's projection and gate in one op (Backend::linear_geglu): the bits of
// linear into [rows, 2·inner] and then geglu, with and without bias, inner a
// multiple of 16 (fused) and not (the two ops).
TEST(CpuBf16, LinearGegluGivesTheBitsOfLinearThenGeglu) {
  const auto be = make_cpu_bf16_backend();
  struct Geometry {
    int64_t batch, rows, in, inner;
    bool bias;
  };
  for (const Geometry g : {Geometry{2, 300, 40, 48, true}, Geometry{1, 77, 320, 1280, true},
                           Geometry{3, 33, 64, 272, false}, Geometry{2, 17, 24, 20, true}}) {
    const Tensor x({g.batch, g.rows, g.in}, random_values(g.batch * g.rows * g.in, 31, false));
    const Tensor w = be->weight(Tensor({2 * g.inner, g.in}, random_values(2 * g.inner * g.in, 32, false)));
    const Tensor b = be->weight(Tensor({2 * g.inner}, random_values(2 * g.inner, 33, false)));
    const Tensor* bias = g.bias ? &b : nullptr;
    Tensor proj = be->empty({g.batch * g.rows, 2 * g.inner});
    be->linear(g.batch, g.rows, g.in, 2 * g.inner, x, w, bias, nullptr, proj);
    Tensor want = be->empty({g.batch * g.rows, g.inner}), got = be->empty(want.shape);
    be->geglu(g.batch * g.rows, g.inner, proj, want);
    be->linear_geglu(g.batch, g.rows, g.in, g.inner, x, w, bias, got);
    EXPECT_EQ(std::memcmp(got.ptr(), want.ptr(), want.bytes()), 0) << g.rows << "x" << g.in << " inner " << g.inner;
  }
}

// The upsampler's fused conv (Backend::conv2d_upsampled2x) reads x in place
// and gives the bits of upsampling first, on odd sizes and channel counts,
// in bf16 and on the fp32 cpu backend.
TEST(CpuBf16, UpsampledConvIsTheConvOfTheUpsampledInput) {
  struct Shape4 {
    int64_t batch, h, w, ci, co;
  };
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(make_cpu_bf16_backend());
  backends.push_back(make_host_backend(cpu_ops()));
  for (const auto& be : backends)
    for (const Shape4 s : {Shape4{2, 5, 7, 24, 20}, Shape4{1, 8, 8, 64, 48}, Shape4{3, 3, 1, 40, 16}}) {
    const Tensor x({s.batch, s.h, s.w, s.ci}, random_values(s.batch * s.h * s.w * s.ci, 5, false));
    const Tensor w = be->weight(Tensor({s.co, 3, 3, s.ci}, random_values(s.co * 9 * s.ci, 6, false)));
    const Tensor b = be->weight(Tensor({s.co}, random_values(s.co, 7, false)));
    Conv2dArgs a;
    a.batch = s.batch, a.in_h = 2 * s.h, a.in_w = 2 * s.w, a.in_c = s.ci, a.out_c = s.co;
    Tensor up = be->empty({s.batch, 2 * s.h, 2 * s.w, s.ci});
    be->upsample_nearest(x, up);
    Tensor want = be->empty({s.batch, a.out_h(), a.out_w(), s.co}), got = be->empty(want.shape);
    be->conv2d(a, up, w, &b, nullptr, want);
    be->conv2d_upsampled2x(a, x, w, &b, got);
    EXPECT_EQ(std::memcmp(got.ptr(), want.ptr(), want.bytes()), 0) << be->name() << " " << shape_str(x.shape);
  }
}

}  // namespace
}  // namespace farm::kernels
