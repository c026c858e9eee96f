// LoRA against diffusers (tools/reference/make_tiny_loras.py): the same tiny
// LoRA in kohya and diffusers/PEFT format, loaded with load_lora_weights +
// set_adapters at weights 0.5 and 1.0; farm's text embeddings, latents after
// every step and image must match within the pipeline test's bounds. Then:
// the two formats give the same patches, no active set is the base model bit
// for bit, a stage reads only its blocks' LoRA tensors, and the errors a user
// can cause name their input.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/txt2img.h"
#include "tests/support/compare.h"

using namespace farm;
using farm::testing::expect_close;
namespace fs = std::filesystem;

namespace {

std::string model_dir(const std::string& m) { return std::string(FARM_TEST_DATA) + "/" + m; }
std::string lora_path(const std::string& m, const std::string& f) {
  return std::string(FARM_TEST_DATA) + "/lora/" + m + "/" + f;
}

// A model with both files loaded, as "kohya" and "peft"; one per model name.
const pipeline::SdModel& with_loras(const std::string& name) {
  static std::map<std::string, std::unique_ptr<pipeline::SdModel>> models;
  auto& m = models[name];
  if (!m) {
    m = std::make_unique<pipeline::SdModel>(pipeline::SdModel::load(model_dir(name), kernels::cpu_backend()));
    m->load_loras({{"kohya", lora_path(name, "kohya.safetensors")}, {"peft", lora_path(name, "peft.safetensors")}});
  }
  return *m;
}

pipeline::Txt2ImgRequest reference_request(const std::string& name) {
  std::ifstream in(lora_path(name, "reference.json"));
  const auto c = nlohmann::json::parse(in).at("case");
  pipeline::Txt2ImgRequest r;
  r.prompt = c.at("prompt");
  r.negative_prompt = c.at("negative_prompt");
  r.seed = c.at("seed");
  r.steps = c.at("steps");
  r.guidance = c.at("guidance");
  r.width = c.at("width");
  r.height = c.at("height");
  r.sampler = c.at("sampler");
  return r;
}

struct RenderCase {
  std::string model, format;
  double weight;
};

class LoraRender : public ::testing::TestWithParam<RenderCase> {};

TEST_P(LoraRender, MatchesDiffusers) {
  const auto& [model_name, format, weight] = GetParam();
  const auto& m = with_loras(model_name);
  const SafetensorsFile ref(lora_path(model_name, "reference.safetensors"));
  const std::string tag = weight == 1.0 ? "w1" : "w0.5";
  const std::string label = cat(model_name, " ", format, " ", tag);
  auto req = reference_request(model_name);
  req.loras = {{format, weight}};  // what a job item's <lora:...> becomes

  {
    const pipeline::LoraScope scope(m, req.loras);
    // SDXL: both encoders' states side by side (each patched by its own part of the file).
    const Tensor text = m.backend->to_host(pipeline::encode_conditioning(m, {req.prompt}, 1, {}).context);
    expect_close(label + " text embeddings", text, ref.load_f32(tag + ".text"), 5e-6);
  }

  const Tensor steps = ref.load_f32(tag + ".latents_steps");  // [S,1,C,h,w]
  const Shape one = {1, steps.dim(2), steps.dim(3), steps.dim(4)};
  const int64_t n = numel(one);
  const Tensor latents = pipeline::denoise(m, {req}, [&](int s, int, const Tensor& x) {
    Tensor want(one, std::vector<float>(steps.data.begin() + (s - 1) * n, steps.data.begin() + s * n));
    expect_close(cat(label, " latents after step ", s), nhwc_to_nchw(x), want, 2e-5);
  });
  expect_close(label + " image", pipeline::decode_latents(m, latents), ref.load_f32(tag + ".image"), 2e-5);
}

std::vector<RenderCase> render_cases() {
  std::vector<RenderCase> r;
  for (const char* m : {"tiny-sd1", "tiny-sd2", "tiny-sdxl"})
    for (const char* f : {"kohya", "peft"})
      for (const double w : {0.5, 1.0}) r.push_back({m, f, w});
  return r;
}

INSTANTIATE_TEST_SUITE_P(Tiny, LoraRender, ::testing::ValuesIn(render_cases()), [](const auto& info) {
  return cat(info.param.model.substr(5), "_", info.param.format, "_w",
             info.param.weight == 1.0 ? "1" : "05");
});

// Same layers, same values (F16 in the kohya file, F32 in the PEFT one, drawn
// F16-exact), same alpha: the two formats are one LoRA.
// SDXL's kohya file names the UNet's modules as the original (SGM) UNet does
// (lora_unet_input_blocks_4_1_...) and its encoders lora_te1_ / lora_te2_.
TEST(LoraFormats, KohyaAndPeftGiveTheSamePatches) {
  for (const char* name : {"tiny-sd1", "tiny-sd2", "tiny-sdxl"}) {
    const auto& m = with_loras(name);
    const auto& kohya = m.loras.at("kohya")->file();
    const auto& peft = m.loras.at("peft")->file();
    EXPECT_EQ(kohya.format, model::LoraFormat::kohya);
    EXPECT_EQ(peft.format, model::LoraFormat::diffusers);
    ASSERT_EQ(kohya.modules.size(), peft.modules.size()) << name;
    std::map<std::string, const model::LoraModule*> by_layer;
    for (const auto& k : kohya.modules) by_layer[k.target.part + "/" + k.target.prefix] = &k;
    int conv3x3 = 0, text = 0, text2 = 0;
    for (const auto& p : peft.modules) {
      const std::string layer = p.target.part + "/" + p.target.prefix;
      ASSERT_TRUE(by_layer.count(layer)) << name << ": " << layer << " only in the PEFT file";
      const auto& k = *by_layer[layer];
      EXPECT_EQ(k.rank, p.rank) << layer;
      EXPECT_EQ(k.alpha, p.alpha) << layer;
      EXPECT_NE(p.alpha, static_cast<double>(p.rank)) << layer << ": the test LoRA should have alpha != rank";
      EXPECT_EQ(k.down.data, p.down.data) << layer;
      EXPECT_EQ(k.up.data, p.up.data) << layer;
      conv3x3 += p.target.shape.size() == 4 && p.target.shape[2] == 3;
      text += p.target.part == "text_encoder";
      text2 += p.target.part == "text_encoder_2";
    }
    if (std::string(name) == "tiny-sdxl") {
      EXPECT_GT(text2, 0) << name << ": no text_encoder_2 module";
    }
    EXPECT_GT(conv3x3, 0) << name << ": no LoCon 3x3 module";
    EXPECT_GT(text, 0) << name << ": no text encoder module";
  }
}

// No LoRA, an empty set, weight 0, and after a set was used: the base model's
// image bytes and latents, exactly. A request's set is what its forwards
// run with (it replaces a scope around the call).
TEST(LoraScope, NoActiveSetIsTheBaseModelBitForBit) {
  const auto base = pipeline::SdModel::load(model_dir("tiny-sd1"), kernels::cpu_backend());
  const auto& m = with_loras("tiny-sd1");
  auto req = reference_request("tiny-sd1");
  req.steps = 2;
  const Tensor want = pipeline::denoise(base, {req});
  const auto want_rgb = pipeline::txt2img(base, {req})[0].rgb;
  EXPECT_EQ(pipeline::denoise(m, {req}).data, want.data);
  EXPECT_EQ(pipeline::txt2img(m, {req})[0].rgb, want_rgb);
  {
    const pipeline::LoraScope outer(m, {{"peft", 1.0}});
    EXPECT_EQ(pipeline::denoise(m, {req}).data, want.data);
  }
  auto zero = req, on = req;
  zero.loras = {{"peft", 0.0}};
  on.loras = {{"peft", 1.0}};
  EXPECT_EQ(pipeline::denoise(m, {zero}).data, want.data);
  EXPECT_NE(pipeline::denoise(m, {on}).data, want.data);
  EXPECT_EQ(pipeline::denoise(m, {req}).data, want.data);
}

TEST(LoraScope, UnknownNameIsAnError) {
  const auto& m = with_loras("tiny-sd1");
  try {
    const pipeline::LoraScope s(m, {{"peft", 1.0}, {"nope", 0.5}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope' is not loaded"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("kohya, peft"), std::string::npos) << e.what();
  }
}

// A stage holding UNet blocks [2, 6) reads the LoRA tensors of those blocks
// only (and none of the text encoder's), yet checks every key of the file.
TEST(LoraStage, ReadsOnlyItsBlocksTensors) {
  auto m = pipeline::SdModel::open(model_dir("tiny-sd1"));
  pipeline::LoadParts parts;
  parts.text_encoder = parts.vae = false;
  parts.unet_begin = 2;
  parts.unet_end = 6;
  m.load_weights(kernels::cpu_backend(), parts);
  m.load_loras({{"peft", lora_path("tiny-sd1", "peft.safetensors")}});
  const auto& file = m.loras.at("peft")->file();
  std::set<std::string> blocks;
  for (size_t i = 2; i < 6; ++i) blocks.insert(m.unet->blocks()[i].name);
  size_t read = 0, of_stage = 0;
  for (const auto& mod : file.modules) {
    const bool mine = mod.target.part == "unet" &&
                      std::any_of(blocks.begin(), blocks.end(), [&](const std::string& b) {
                        return mod.target.prefix.compare(0, b.size() + 1, b + ".") == 0;
                      });
    of_stage += mine;
    EXPECT_EQ(mod.down.defined(), mine) << mod.target.prefix;
    EXPECT_EQ(file.read_keys.count(mod.down_key), mine ? 1u : 0u) << mod.down_key;
    read += mod.down.defined();
  }
  EXPECT_GT(of_stage, 0u);
  EXPECT_EQ(file.read_keys.size(), 2 * read);  // down and up; the PEFT file's alpha is in its header
  EXPECT_LT(read, file.modules.size());
}

// --- errors: written files --------------------------------------------------

// A safetensors file of F32 tensors (and a metadata map).
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [k, t] : tensors) {
    header[k] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * t.data.size()}}};
    offset += 4 * t.data.size();
  }
  const std::string h = header.dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << h;
  for (const auto& [k, t] : tensors) out.write(reinterpret_cast<const char*>(t.data.data()), 4 * t.data.size());
}

std::string load_error(const std::string& path) {
  auto m = pipeline::SdModel::load(model_dir("tiny-sd1"), kernels::cpu_backend());
  try {
    m.load_loras({{"x", path}});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string temp_path(const std::string& name) { return (fs::temp_directory_path() / ("farm_lora_" + name)).string(); }

// A rank-2 kohya module on tiny-sd1's first to_q (its shape read from the
// model's file, so the test follows the model).
std::map<std::string, Tensor> good_module() {
  const std::string q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  const SafetensorsFile unet(model_dir("tiny-sd1") + "/unet/diffusion_pytorch_model.safetensors");
  const Shape w = unet.find(q + ".weight")->shape;  // [out, in]
  return {{"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight", Tensor({2, w[1]})},
          {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight", Tensor({w[0], 2})}};
}

TEST(LoraErrors, KeysMatchingNoLayerAreListed) {
  auto t = good_module();
  t["lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight"] = Tensor({2, 2});
  t["unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_z.lora_A.weight"] = Tensor({2, 2});
  t["lora_unet_conv_in.hada_w1_a"] = Tensor({2, 2});
  const std::string path = temp_path("unmatched.safetensors");
  write_safetensors(path, t);
  const std::string e = load_error(path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("3 of its 5 LoRA keys match no layer"), std::string::npos) << e;
  for (const char* k : {"lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight",
                        "unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_z.lora_A.weight",
                        "lora_unet_conv_in.hada_w1_a"})
    EXPECT_NE(e.find(k), std::string::npos) << k << " not in: " << e;
  fs::remove(path);
}

TEST(LoraErrors, WrongShapeNamesKeyAndShapes) {
  auto t = good_module();
  const std::string up = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight";
  const int64_t out = t.at(up).dim(0);
  t[up] = Tensor({out, 3});  // rank 3 against a rank-2 down
  const std::string path = temp_path("shape.safetensors");
  write_safetensors(path, t);
  const std::string e = load_error(path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find(up), std::string::npos) << e;
  EXPECT_NE(e.find(shape_str({out, 3})), std::string::npos) << e;
  EXPECT_NE(e.find(cat("expected ", shape_str({out, 2}))), std::string::npos) << e;
  fs::remove(path);
}

TEST(LoraErrors, TruncatedFileIsNamed) {
  const std::string path = temp_path("truncated.safetensors");
  fs::copy_file(lora_path("tiny-sd1", "peft.safetensors"), path, fs::copy_options::overwrite_existing);
  fs::resize_file(path, fs::file_size(path) - 1000);
  const std::string e = load_error(path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  fs::remove(path);
}

TEST(LoraErrors, SecondNameAndMissingFileAreErrors) {
  auto m = pipeline::SdModel::load(model_dir("tiny-sd1"), kernels::cpu_backend());
  m.load_loras({{"a", lora_path("tiny-sd1", "peft.safetensors")}});
  EXPECT_THROW(m.load_loras({{"a", lora_path("tiny-sd1", "kohya.safetensors")}}), Error);
  EXPECT_THROW(m.load_loras({{"b", lora_path("tiny-sd1", "missing.safetensors")}}), Error);
}

}  // namespace
