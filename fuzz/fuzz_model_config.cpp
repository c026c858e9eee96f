// Model JSON configs: every input is read as a UNet, VAE, CLIP text
// encoder, Qwen3 text encoder and Z-Image transformer config.json (farm/model, over farm/io/json_config.cpp) and as a
// scheduler_config.json (farm/sched). A config they accept must describe a
// network the loaders can size without dividing by zero or indexing past a list.
#include <cstdint>
#include <string>

#include "farm/model/clip_text.h"
#include "farm/model/qwen3_text.h"
#include "farm/model/zimage_dit.h"
#include "farm/model/unet_config.h"
#include "farm/model/vae_decoder.h"
#include "farm/sched/flow_euler.h"
#include "farm/sched/scheduler_config.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using farm::fuzz::check;
  using farm::fuzz::expect_farm_errors_only;
  static const farm::fuzz::InputFile input("config.json");
  input.write(data, size);

  expect_farm_errors_only([&] {
    const auto u = farm::model::UNetConfig::load(input.path());
    const auto n = static_cast<size_t>(u.levels());
    check(n > 0, "a UNet has a level");
    check(u.layers_per_block.size() == n && u.heads.size() == n && u.cross_attention_dim.size() == n &&
              u.transformer_layers.size() == n && u.down_cross_attention.size() == n &&
              u.up_cross_attention.size() == n,
          "one entry per level in every per-level list");
    for (size_t i = 0; i < n; ++i)
      check(u.norm_num_groups > 0 && u.block_out_channels[i] % u.norm_num_groups == 0 && u.heads[i] > 0,
            "channels split into norm groups and heads");
    // What `farm plan` and the UNet's block list compute straight from the config.
    // (UBSan watches the arithmetic; the values themselves are checked when weights load.)
    check(u.time_embed_dim() > 0, "the time embedding has channels");
    (void)u.context_dim();
    (void)u.native_image_size(8);
  });
  expect_farm_errors_only([&] {
    const auto v = farm::model::VaeConfig::load(input.path());
    check(!v.block_out_channels.empty() && v.norm_num_groups > 0, "a VAE has a level and norm groups");
    for (int64_t ch : v.block_out_channels) check(ch > 0 && ch % v.norm_num_groups == 0, "channels split into groups");
    check(v.scale_factor() >= 1, "the latent-to-pixel scale is positive");  // txt2img, farm plan
  });
  expect_farm_errors_only([&] {
    const auto t = farm::model::ClipTextConfig::load(input.path());
    check(t.heads > 0 && t.hidden_size % t.heads == 0 && t.layers > 0, "hidden size splits into heads");
  });
  expect_farm_errors_only([&] {
    const auto q = farm::model::Qwen3Config::load(input.path());
    check(q.heads > 0 && q.kv_heads > 0 && q.heads % q.kv_heads == 0 && q.head_dim > 0 && q.head_dim % 2 == 0,
          "query heads group over k/v heads of an even width");
    farm::model::Qwen3TextEncoder te(q, q.layers - 1 > 0 ? q.layers - 1 : q.layers);  // sizes its block list
    check(!te.blocks().empty(), "a block list");
  });
  expect_farm_errors_only([&] {
    const auto z = farm::model::ZImageDitConfig::load(input.path());
    check(z.heads > 0 && z.dim % z.heads == 0, "dim splits into heads");
    check(z.axes_dims.size() == 3 && z.axes_dims[0] + z.axes_dims[1] + z.axes_dims[2] == z.head_dim(),
          "the RoPE axes cover a head");
    farm::model::ZImageDit dit(z);
    check(dit.blocks().size() == static_cast<size_t>(2 + 2 * z.refiner_layers + z.layers), "one block each");
  });
  expect_farm_errors_only([&] {
    farm::sched::SchedulerConfig::from_json_text(std::string(reinterpret_cast<const char*>(data), size),
                                                 "scheduler_config.json");
  });
  expect_farm_errors_only([&] {  // a flow-matching model's: whatever it accepts, the sampler can run
    const auto c = farm::sched::FlowMatchConfig::from_json_text(
        std::string(reinterpret_cast<const char*>(data), size), "scheduler_config.json");
    const auto s = farm::sched::make_flow_euler(c, 8, 4096);
    for (float v : s->sigmas()) check(v >= 0 && v <= 1.0f + 1e-6f, "flow sigmas stay in [0, 1]");
  });
  return 0;
}
