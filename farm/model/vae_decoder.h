// AutoencoderKL's decode path: post_quant_conv, then the Decoder (conv_in,
// mid block with one single-head attention, UpDecoderBlock2Ds, norm, conv_out).
#pragma once

#include <string>
#include <vector>

#include "farm/model/block_list.h"
#include "farm/model/resnet.h"

namespace farm::model {

struct VaeConfig {
  int64_t latent_channels = 4, out_channels = 3;
  std::vector<int64_t> block_out_channels;
  int64_t layers_per_block = 2, norm_num_groups = 32;
  float scaling_factor = 0.18215f;
  // FLUX-style VAEs (Z-Image's): the decoder reads z / scaling_factor + shift_factor.
  float shift_factor = 0.0f;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // diffusers' force_upcast: the VAE overflows in fp16 (SDXL's original VAE does), run it wider.
  bool force_upcast = false;

  int64_t scale_factor() const { return int64_t{1} << (block_out_channels.size() - 1); }
  // The decoder's input from a pipeline's latents: z / scaling_factor + shift_factor
  // elementwise on a host tensor, a division as diffusers divides (same rounding).
  Tensor decoder_input(const Tensor& latents) const;
  static VaeConfig load(const std::string& path);
};

// The decoder's blocks, in order: the input convs (post_quant_conv, conv_in),
// the mid block's resnets and attention, each up block's resnets and
// upsampler, the output (norm, conv_out).
enum class VaeBlockKind { input, mid_resnet, mid_attention, up_resnet, upsample, output };
const char* block_kind_name(VaeBlockKind k);

struct VaeBlockDesc {
  VaeBlockKind kind = VaeBlockKind::input;
  std::string name;  // checkpoint prefix: "decoder.up_blocks.1.resnets.0", ...
  int block = 0, layer = 0;  // up block / resnet index where they apply
  int64_t in_channels = 0, out_channels = 0;
  int scale = 0;  // its input's size is the latent size · 2^scale
};

class VaeDecoder {
 public:
  explicit VaeDecoder(VaeConfig c);
  const VaeConfig& config() const { return config_; }

  void load(const WeightLoader& w);
  // latents [B,h,w,latent_channels] (already divided by scaling_factor) -> host image [B,H,W,3] in about [-1, 1]
  Tensor decode(Backend& be, const Tensor& latents) const;

  // The same decode as a block list, so a pipeline stage can spread one
  // decode over its next UNet passes instead of stalling the ring for the
  // whole decode. h holds the latents before block 0 and the image after the
  // last; running every block in order is decode() exactly. Block 0 places h
  // on the backend; the image stays there.
  const std::vector<VaeBlockDesc>& blocks() const { return blocks_; }
  std::vector<BlockRef> block_list() const;
  void run(Backend& be, Tensor& h, size_t begin, size_t end) const;  // blocks [begin, end)

 private:
  void run_block(Backend& be, const VaeBlockDesc& d, Tensor& h) const;
  std::vector<VaeBlockDesc> blocks_;
  struct UpBlock {
    std::vector<ResnetBlock> resnets;
    Conv2d upsample;  // out == 0 on the last block
  };
  VaeConfig config_;
  Conv2d post_quant_conv_, conv_in_, conv_out_;
  ResnetBlock mid_resnet0_, mid_resnet1_;
  GroupNorm mid_attn_norm_, norm_out_;
  MultiHeadAttention mid_attn_;
  std::vector<UpBlock> up_;
};

}  // namespace farm::model
