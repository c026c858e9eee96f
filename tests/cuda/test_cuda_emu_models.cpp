// The tiny SD-1.x, SD-2.x and SDXL models (tests/data/tiny-sd1, tiny-sd2, tiny-sdxl): CLIP text
// encoder, UNet and VAE decoder run end to end on the device-resident CUDA
// backend, emulated (weights and activations on the device in f16/bf16),
// against the ref backend in fp32. Bound, derived as for single ops:
// the error may be at most 2x the error of kernels/ref run with the adapter's
// precision model (rounded_ref_ops: every op's inputs and output rounded to
// fp16/bf16), plus one 16-bit unit at max |reference|.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <tuple>

#include "farm/io/safetensors.h"
#include "farm/io/weight_store.h"
#include "farm/model/clip_text.h"
#include "farm/model/qwen3_text.h"
#include "farm/model/zimage_dit.h"
#include "farm/model/unet.h"
#include "farm/model/vae_decoder.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/check/precision_bound.h"
#include "kernels/check/rounded_ref_ops.h"
#include "tests/cuda/model_dtype_param.h"

namespace farm {
namespace {

using kernels::cuda::DType;
using Param = testing::ModelDtype;  // model folder, dtype

// Runs `forward` (load, then run; a host result) on ref (fp32), on rounded
// ref and on the emulated device, and checks the device's error.
void check_on_device(const std::string& model, DType dtype, const char* what,
                     const std::function<Tensor(kernels::Backend&)>& forward) {
  const Tensor want = forward(kernels::ref_backend());
  const auto rounded = kernels::make_host_backend(kernels::testing::rounded_ref_ops(dtype));
  const Tensor baseline = forward(*rounded);
  const auto device = kernels::make_cuda_emu_backend(dtype, 0, 1, "test");
  const Tensor got = forward(*device);
  const auto r = kernels::testing::check_precision(got.data, want.data, baseline.data, dtype);
  std::printf("[ cuda-emu ] %s %-6s %-4s %s\n", model.c_str(), what, kernels::cuda::dtype_name(dtype),
              r.describe().c_str());
  EXPECT_TRUE(r.passes()) << what << ": " << r.describe();
}

class CudaEmuModels : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    dir_ = std::string(FARM_TEST_DATA) + "/" + std::get<0>(GetParam());
    ref_ = std::make_unique<SafetensorsFile>(dir_ + "/reference.safetensors");
  }
  DType dtype() const { return std::get<1>(GetParam()); }

  void check(const char* what, const std::function<Tensor(kernels::Backend&)>& forward) const {
    check_on_device(std::get<0>(GetParam()), dtype(), what, forward);
  }

  std::string dir_;
  std::unique_ptr<SafetensorsFile> ref_;
};

TEST_P(CudaEmuModels, TextEncoder) {
  model::ClipTextEncoder te(model::ClipTextConfig::load(dir_ + "/text_encoder/config.json"));
  const auto ids = ref_->load_i64("text.ids");
  const int64_t batch = static_cast<int64_t>(ids.size() / 77);
  check("text", [&](kernels::Backend& be) {
    te.load({WeightStore(dir_ + "/text_encoder"), be});
    return be.to_host(te.forward(be, ids, batch));
  });
}

TEST_P(CudaEmuModels, UNet) {
  model::UNet unet(model::UNetConfig::load(dir_ + "/unet/config.json"));
  const Tensor sample = nchw_to_nhwc(ref_->load_f32("unet.sample"));
  const Tensor t = ref_->load_f32("unet.timestep");
  const Tensor context = ref_->load_f32("unet.encoder_hidden_states");
  Tensor text_embeds, time_ids;  // SDXL's added conditioning
  if (ref_->find("unet.time_ids")) text_embeds = ref_->load_f32("unet.text_embeds"), time_ids = ref_->load_f32("unet.time_ids");
  check("unet", [&](kernels::Backend& be) {
    unet.load({WeightStore(dir_ + "/unet"), be});
    return unet.forward(be, sample, t, context, text_embeds, time_ids);
  });
}

TEST_P(CudaEmuModels, VaeDecode) {
  model::VaeDecoder vae(model::VaeConfig::load(dir_ + "/vae/config.json"));
  Tensor z = nchw_to_nhwc(ref_->load_f32("vae.latent"));
  for (float& v : z.data) v = v / vae.config().scaling_factor;
  check("vae", [&](kernels::Backend& be) {
    vae.load({WeightStore(dir_ + "/vae"), be});
    return vae.decode(be, z);
  });
}

INSTANTIATE_TEST_SUITE_P(Tiny, CudaEmuModels,
                         ::testing::Combine(::testing::Values("tiny-sd1", "tiny-sd2", "tiny-sdxl"),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         testing::model_dtype_name);

// Z-Image's parts on the tiny pipeline: the Qwen3 text encoder (grouped-query
// attention, RMS norms, RoPE, SwiGLU) on a short and a 512-token prompt, and
// the 16-channel VAE without post_quant_conv.
class CudaEmuZImage : public ::testing::TestWithParam<DType> {};

TEST_P(CudaEmuZImage, TextEncoder) {
  const std::string dir = std::string(FARM_TEST_DATA) + "/tiny-zimage";
  const SafetensorsFile ref(dir + "/reference.safetensors");
  const auto config = model::Qwen3Config::load(dir + "/text_encoder/config.json");
  model::Qwen3TextEncoder te(config, config.layers - 1);
  for (const char* name : {"text.ids.0", "text.ids.5"}) {
    const auto ids = ref.load_i64(name);
    check_on_device("tiny-zimage", GetParam(), ids.size() > 100 ? "qwen3 512" : "qwen3", [&](kernels::Backend& be) {
      te.load({WeightStore(dir + "/text_encoder"), be});
      return be.to_host(te.forward(be, ids));
    });
  }
}

TEST_P(CudaEmuZImage, VaeDecode) {
  const std::string dir = std::string(FARM_TEST_DATA) + "/tiny-zimage";
  const SafetensorsFile ref(dir + "/reference.safetensors");
  model::VaeDecoder vae(model::VaeConfig::load(dir + "/vae/config.json"));
  const Tensor z = vae.config().decoder_input(nchw_to_nhwc(ref.load_f32("vae.latents")));
  check_on_device("tiny-zimage", GetParam(), "vae", [&](kernels::Backend& be) {
    vae.load({WeightStore(dir + "/vae"), be});
    return vae.decode(be, z);
  });
}

TEST_P(CudaEmuZImage, Transformer) {
  const std::string dir = std::string(FARM_TEST_DATA) + "/tiny-zimage";
  const SafetensorsFile ref(dir + "/reference.safetensors");
  model::ZImageDit dit(model::ZImageDitConfig::load(dir + "/transformer/config.json"));
  const Tensor latents = nchw_to_nhwc(ref.load_f32("dit.latents.1"));
  const Tensor caption = ref.load_f32("text.embeds.3");
  const float t = ref.load_f32("dit.t.1").data[0];
  check_on_device("tiny-zimage", GetParam(), "dit", [&](kernels::Backend& be) {
    dit.load({WeightStore(dir + "/transformer"), be});
    return dit.forward(be, latents, caption, t);
  });
}

INSTANTIATE_TEST_SUITE_P(Tiny, CudaEmuZImage, ::testing::Values(DType::f16, DType::bf16),
                         [](const ::testing::TestParamInfo<DType>& i) { return kernels::cuda::dtype_name(i.param); });

}  // namespace
}  // namespace farm
