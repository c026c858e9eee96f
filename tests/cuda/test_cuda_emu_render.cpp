// Whole renders on the device-resident CUDA backend, emulated: text encoder,
// every denoising step and the VAE on the device in f16/bf16, the sampler on
// the host. Checked against the fp32 CPU render of the same request, with the
// bound of the kernel tests carried to the whole pipeline: the device image's
// error may be at most 2x the error of the same render on the rounded
// reference (every op's inputs and output rounded to f16/bf16, computed in
// fp32: the precision the device path keeps between ops), plus one 16-bit
// unit at the largest pixel value. Both 16-bit renders go through the same
// sampler steps, so the rule compares like with like.
//
// Then the counters, from the emulated runtime (the backend's own count must
// agree): every weight uploaded once at load; each denoising step after the
// first moves across the host boundary exactly its latent-sized input (plus
// the fp32 timesteps) and output, allocates nothing on the device and never
// synchronises the whole device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "farm/io/weight_store.h"
#include "farm/pipeline/txt2img.h"
#include "kernels/backend.h"
#include "kernels/check/staging_ops.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/emu/counters.h"
#include "kernels/check/precision_bound.h"
#include "kernels/check/rounded_ref_ops.h"
#include "tests/cuda/model_dtype_param.h"

namespace farm {
namespace {

using kernels::cuda::DType;
using Param = testing::ModelDtype;  // model folder, dtype

// Small enough for the emulator (latents 8x8 or 4x4), large enough that
// every UNet and VAE level runs.
constexpr int kSize = 16;

std::string model_dir(const std::string& name) {
  return name == "tiny-shapes" ? std::string(FARM_MODELS_DIR) + "/tiny-shapes" : std::string(FARM_TEST_DATA) + "/" + name;
}

pipeline::Txt2ImgRequest request(int size) {
  pipeline::Txt2ImgRequest r;
  r.prompt = "a small red circle on the left, blue background";
  r.negative_prompt = "blurry";
  r.seed = 42;
  r.steps = 3;
  r.guidance = 7.5f;
  r.width = r.height = size;
  r.sampler = "euler";
  return r;
}

// The float image [1,H,W,3] in [0,1] of `r` rendered on `be`.
Tensor render(const std::string& dir, kernels::Backend& be, const pipeline::Txt2ImgRequest& r) {
  const auto m = pipeline::SdModel::load(dir, be);
  return pipeline::decode_latents(m, pipeline::denoise(m, {r}));
}

class CudaEmuRender : public ::testing::TestWithParam<Param> {
 protected:
  std::string name() const { return std::get<0>(GetParam()); }
  DType dtype() const { return std::get<1>(GetParam()); }
};

TEST_P(CudaEmuRender, ImageWithinBoundOfFp32Cpu) {
  const auto r = request(kSize);
  const Tensor want = render(model_dir(name()), kernels::cpu_backend(), r);
  const auto rounded = kernels::make_host_backend(kernels::testing::rounded_ref_ops(dtype()));
  const Tensor baseline = render(model_dir(name()), *rounded, r);
  const auto device = kernels::make_cuda_emu_backend(dtype(), 0, 1, "test");
  const Tensor got = render(model_dir(name()), *device, r);
  ASSERT_EQ(got.shape, want.shape);
  const auto c = kernels::testing::check_precision(got.data, want.data, baseline.data, dtype());
  std::printf("[ cuda-emu ] render %s %s: %s\n", name().c_str(), kernels::cuda::dtype_name(dtype()),
              c.describe().c_str());
  EXPECT_TRUE(c.passes()) << c.describe();
}

// tiny-sd2 (VAE factor 4, 3 UNet levels) at 24x24: latent 6 -> 3 -> 2, so the
// up path resizes 2 -> 3 (torch's nearest to the skip's size, not 2x) on the device.
TEST(CudaEmuRenderOdd, OddLatentSizeWithinBoundOfFp32Cpu) {
  const auto r = request(24);
  const std::string dir = model_dir("tiny-sd2");
  const Tensor want = render(dir, kernels::cpu_backend(), r);
  const auto rounded = kernels::make_host_backend(kernels::testing::rounded_ref_ops(DType::f16));
  const Tensor baseline = render(dir, *rounded, r);
  const auto device = kernels::make_cuda_emu_backend(DType::f16, 0, 1, "test");
  const Tensor got = render(dir, *device, r);
  const auto c = kernels::testing::check_precision(got.data, want.data, baseline.data, DType::f16);
  std::printf("[ cuda-emu ] render tiny-sd2 24x24 f16: %s\n", c.describe().c_str());
  EXPECT_TRUE(c.passes()) << c.describe();
}

// A LoRA and an A1111-weighted prompt on the device: the low-rank GEMMs and
// LoCon convs run in 16 bits, the weighting goes through the host once per
// micro-batch. Same precision rule as above, every render with the LoRA;
// and each step after the first still moves only the latent-sized tensors
// and allocates nothing.
TEST(CudaEmuRenderLora, LoraAndWeightsWithinBoundAndOnTheDevice) {
  auto r = request(kSize);
  r.prompt = "a small (red:1.4) circle on the left, [blue] background";
  r.loras = {{"kohya", 0.8}};
  const std::string dir = model_dir("tiny-sd1");
  const auto load = [&](kernels::Backend& be) {
    auto m = pipeline::SdModel::load(dir, be);
    m.load_loras({{"kohya", std::string(FARM_TEST_DATA) + "/lora/tiny-sd1/kohya.safetensors"}});
    return m;
  };
  const auto render_with = [&](kernels::Backend& be, const pipeline::StepCallback& on_step = {}) {
    const auto m = load(be);
    return pipeline::decode_latents(m, pipeline::denoise(m, {r}, on_step));
  };
  const Tensor want = render_with(kernels::cpu_backend());
  const auto rounded = kernels::make_host_backend(kernels::testing::rounded_ref_ops(DType::f16));
  const Tensor baseline = render_with(*rounded);
  const auto device = kernels::make_cuda_emu_backend(DType::f16, 0, 1, "test");
  std::vector<kernels::DeviceCounters> at_step;
  int64_t latent = 0;  // bytes of the CFG rows' 16-bit latents
  const Tensor got = render_with(*device, [&](int, int, const Tensor& x) {
    at_step.push_back(device->counters());
    latent = 2 * x.size() * 2;
  });
  const auto c = kernels::testing::check_precision(got.data, want.data, baseline.data, DType::f16);
  std::printf("[ cuda-emu ] render tiny-sd1 f16 with a LoRA and weights: %s\n", c.describe().c_str());
  EXPECT_TRUE(c.passes()) << c.describe();
  auto plain = r;
  plain.loras.clear();
  const auto m = load(kernels::cpu_backend());
  const Tensor without = pipeline::decode_latents(m, pipeline::denoise(m, {plain}));
  double moved = 0;
  for (size_t i = 0; i < want.data.size(); ++i) moved = std::max(moved, double(std::fabs(want.data[i] - without.data[i])));
  std::printf("[ cuda-emu ] the LoRA moves the fp32 image by up to %.3f\n", moved);
  EXPECT_GT(moved, 0.05) << "the LoRA barely changes the image: the bound above proves little";
  ASSERT_EQ(at_step.size(), static_cast<size_t>(r.steps));
  for (size_t s = 1; s < at_step.size(); ++s) {
    const auto d = at_step[s] - at_step[s - 1];
    EXPECT_LE(d.h2d_bytes, latent + 2 * 4) << "step " << s + 1;
    EXPECT_LE(d.d2h_bytes, latent) << "step " << s + 1;
    EXPECT_EQ(d.allocations, 0) << "step " << s + 1;
    EXPECT_EQ(d.syncs, 0) << "step " << s + 1;
  }
}

TEST_P(CudaEmuRender, StepsStayOnTheDevice) {
  const auto be = kernels::make_cuda_emu_backend(dtype(), 0, 1, "test");
  const auto m = pipeline::SdModel::load(model_dir(name()), *be);
  const kernels::DeviceCounters after_load = be->counters();
  // Each weight once: as many placements as keys read, each a 16-bit copy of
  // its parameters (counted from the file headers), and nothing else crossed.
  int64_t params = 0;
  for (const char* part : {"unet", "text_encoder", "vae"}) {
    const WeightStore w(model_dir(name()) + "/" + part);
    for (const auto& key : m.loaded_keys)
      if (key.rfind(std::string(part) + "/", 0) == 0) params += numel(w.shape_of(key.substr(std::strlen(part) + 1)));
  }
  EXPECT_EQ(be->weight_tensors(), static_cast<int64_t>(m.loaded_keys.size()));
  EXPECT_EQ(be->weight_bytes(), 2 * params);
  EXPECT_EQ(after_load.h2d_bytes, be->weight_bytes());

  auto r = request(kSize);
  r.steps = 3;
  std::vector<kernels::DeviceCounters> at_step;
  const Tensor latents = pipeline::denoise(m, {r}, [&](int, int, const Tensor&) { at_step.push_back(be->counters()); });
  ASSERT_EQ(at_step.size(), 3u);
  const int64_t rows = 2;  // CFG: unconditional + conditional
  const int64_t latent = rows * latents.dim(1) * latents.dim(2) * latents.dim(3) * 2;  // 16-bit elements
  const int64_t in_bound = latent + rows * 4;  // the sample, and the fp32 timesteps
  for (size_t s = 1; s < at_step.size(); ++s) {
    const auto d = at_step[s] - at_step[s - 1];
    std::printf("[ cuda-emu ] %s %s step %zu: h2d %lld B (bound %lld), d2h %lld B (bound %lld), allocations %lld, "
                "device syncs %lld, stream syncs %lld, launches %lld\n",
                name().c_str(), kernels::cuda::dtype_name(dtype()), s + 1, static_cast<long long>(d.h2d_bytes),
                static_cast<long long>(in_bound), static_cast<long long>(d.d2h_bytes),
                static_cast<long long>(latent), static_cast<long long>(d.allocations),
                static_cast<long long>(d.syncs), static_cast<long long>(d.stream_syncs),
                static_cast<long long>(d.launches));
    EXPECT_LE(d.h2d_bytes, in_bound);
    EXPECT_LE(d.d2h_bytes, latent);
    EXPECT_EQ(d.allocations, 0);
    EXPECT_EQ(d.syncs, 0);
    EXPECT_LE(d.stream_syncs, 1) << "one wait: the output the sampler needs";
    EXPECT_GT(d.launches, 0);
  }
  // The backend's own count and the emulated runtime's agree on what crossed.
  const auto own = be->own_counters(), seen = be->counters();
  EXPECT_EQ(own.h2d_bytes, seen.h2d_bytes);
  EXPECT_EQ(own.d2h_bytes, seen.d2h_bytes);
  EXPECT_EQ(own.allocations, seen.allocations);
  EXPECT_EQ(seen.syncs, 0);
}

// Side by side, one denoising step after the first: the per-op staging
// adapter (kernels/check/staging_ops.h, what --backend cuda was before) and
// the device-resident backend, counted by the emulated runtime.
TEST_P(CudaEmuRender, ResidentStepMovesFarLessThanStaging) {
  if (dtype() == DType::bf16) GTEST_SKIP() << "the counts do not depend on the dtype (f16 runs)";
  auto step_counters = [&](kernels::Backend& be, auto counters) {
    const auto m = pipeline::SdModel::load(model_dir(name()), be);
    auto r = request(kSize);
    r.steps = 2;
    std::vector<emu::RuntimeCounters> at;
    pipeline::denoise(m, {r}, [&](int, int, const Tensor&) { at.push_back(counters()); });
    const auto& a = at.at(0);
    const auto& b = at.at(1);
    return emu::RuntimeCounters{b.h2d_bytes - a.h2d_bytes, b.d2h_bytes - a.d2h_bytes, 0,
                                b.device_allocations - a.device_allocations, 0, 0,
                                b.device_syncs - a.device_syncs, b.stream_syncs - a.stream_syncs,
                                b.launches - a.launches};
  };
  const auto staging = kernels::make_host_backend(kernels::cuda_emu_staging_ops(dtype()));
  const auto before = step_counters(*staging, [] { return emu::runtime_counters(); });
  const auto resident = kernels::make_cuda_emu_backend(dtype(), 0, 1, "test");
  const auto after = step_counters(*resident, [] { return emu::runtime_counters(); });
  std::printf("[ cuda-emu ] %s %s one step, staging -> resident: h2d %lld -> %lld B, d2h %lld -> %lld B, "
              "allocations %lld -> %lld, device syncs %lld -> %lld, launches %lld -> %lld\n",
              name().c_str(), kernels::cuda::dtype_name(dtype()), static_cast<long long>(before.h2d_bytes),
              static_cast<long long>(after.h2d_bytes), static_cast<long long>(before.d2h_bytes),
              static_cast<long long>(after.d2h_bytes), static_cast<long long>(before.device_allocations),
              static_cast<long long>(after.device_allocations), static_cast<long long>(before.device_syncs),
              static_cast<long long>(after.device_syncs), static_cast<long long>(before.launches),
              static_cast<long long>(after.launches));
  EXPECT_LT(after.h2d_bytes * 10, before.h2d_bytes);
  EXPECT_LT(after.d2h_bytes * 10, before.d2h_bytes);
  EXPECT_EQ(after.device_allocations, 0);
  EXPECT_EQ(after.device_syncs, 0);
  EXPECT_GT(before.device_syncs, 0);
}

INSTANTIATE_TEST_SUITE_P(Tiny, CudaEmuRender,
                         ::testing::Combine(::testing::Values("tiny-sd1", "tiny-sd2", "tiny-shapes"),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         testing::model_dtype_name);

}  // namespace
}  // namespace farm
