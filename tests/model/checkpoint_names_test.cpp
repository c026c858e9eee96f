// Key spellings found in real SD folders load to the same model: the VAE's
// pre-0.14 attention names (query/key/value/proj_attn) and a text encoder
// saved by transformers 5 without the "text_model." prefix. Each renamed copy
// of the tiny-sd1 weights must give bit-identical outputs to the original.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "farm/io/safetensors.h"
#include "farm/model/clip_text.h"
#include "farm/model/vae_decoder.h"

namespace fs = std::filesystem;
using namespace farm;

namespace {

const std::string kModel = std::string(FARM_TEST_DATA) + "/tiny-sd1";

// Copies a safetensors file with every key passed through `rename`.
void write_renamed(const std::string& src, const std::string& dst,
                   const std::function<std::string(const std::string&)>& rename) {
  std::ifstream in(src, std::ios::binary);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(in.get())) << (8 * i);
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json h = nlohmann::json::parse(header), out = nlohmann::json::object();
  for (auto it = h.begin(); it != h.end(); ++it) out[it.key() == "__metadata__" ? it.key() : rename(it.key())] = it.value();
  const std::string new_header = out.dump();
  std::ofstream o(dst, std::ios::binary);
  const uint64_t m = new_header.size();
  for (int i = 0; i < 8; ++i) o.put(static_cast<char>((m >> (8 * i)) & 0xff));
  o << new_header << data;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

struct TmpDir {
  fs::path path = fs::temp_directory_path() / ("farm_names_" + std::to_string(::getpid()));
  TmpDir() { fs::create_directories(path); }
  ~TmpDir() { fs::remove_all(path); }
};

TEST(CheckpointNames, DeprecatedVaeAttentionNames) {
  TmpDir tmp;
  write_renamed(kModel + "/vae/diffusion_pytorch_model.safetensors", (tmp.path / "vae.safetensors").string(),
                [](const std::string& k) {
                  std::string r = replace_all(k, "attentions.0.to_q.", "attentions.0.query.");
                  r = replace_all(r, "attentions.0.to_k.", "attentions.0.key.");
                  r = replace_all(r, "attentions.0.to_v.", "attentions.0.value.");
                  return replace_all(r, "attentions.0.to_out.0.", "attentions.0.proj_attn.");
                });
  ASSERT_TRUE(SafetensorsFile((tmp.path / "vae.safetensors").string()).find("decoder.mid_block.attentions.0.query.weight"));
  const auto cfg = model::VaeConfig::load(kModel + "/vae/config.json");
  model::VaeDecoder a(cfg), b(cfg);
  a.load({WeightStore(kModel + "/vae"), kernels::ref_backend()});
  b.load({WeightStore(tmp.path.string()), kernels::ref_backend()});
  Tensor z({1, 6, 2, 4});  // NHWC latents
  for (int64_t i = 0; i < z.size(); ++i) z.data[i] = 0.01f * static_cast<float>(i % 37) - 0.2f;
  EXPECT_EQ(a.decode(kernels::ref_backend(), z).data, b.decode(kernels::ref_backend(), z).data);
}

TEST(CheckpointNames, TextEncoderWithoutTextModelPrefix) {
  TmpDir tmp;
  write_renamed(kModel + "/text_encoder/model.safetensors", (tmp.path / "model.safetensors").string(),
                [](const std::string& k) { return k.rfind("text_model.", 0) == 0 ? k.substr(11) : k; });
  const auto cfg = model::ClipTextConfig::load(kModel + "/text_encoder/config.json");
  model::ClipTextEncoder a(cfg), b(cfg);
  a.load({WeightStore(kModel + "/text_encoder"), kernels::ref_backend()});
  b.load({WeightStore(tmp.path.string()), kernels::ref_backend()});
  const std::vector<int64_t> ids = {49406, 320, 1125, 49407, 49407};
  EXPECT_EQ(a.forward(kernels::ref_backend(), ids, 1).data, b.forward(kernels::ref_backend(), ids, 1).data);
}

}  // namespace
