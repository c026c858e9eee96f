// Exact parameter counts, FLOPs and activation sizes of each UNet block, the
// CLIP text encoder and the VAE decoder, from configs alone. Parameters are
// counted as the checkpoints store them (tested against real safetensors
// files); FLOPs are 2·MACs of the convolutions, linear layers and attention
// matmuls (QK^T and PV), per row (one sample) — norms, activations, softmax
// and residual adds are left out (they are O(elements), not O(elements·C)).
#pragma once

#include <cstdint>
#include <vector>

#include "farm/model/clip_text.h"
#include "farm/model/unet.h"
#include "farm/model/vae_decoder.h"

namespace farm::partition {

// Latent side per UNet level: s_0 = latent, s_{l+1} = (s_l - 1) / 2 + 1
// (3×3 stride-2 conv, pad 1).
std::vector<int64_t> level_sizes(int64_t latent, int levels);

// A block's spatial sizes: the size it reads and the size it writes.
struct BlockGeometry {
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;
};
BlockGeometry block_geometry(const model::UNetBlockDesc& d, const std::vector<int64_t>& hs,
                             const std::vector<int64_t>& ws);

int64_t unet_block_params(const model::UNetConfig& c, const model::UNetBlockDesc& d);
// Per row; text_len: context tokens the cross-attention reads.
double unet_block_flops(const model::UNetConfig& c, const model::UNetBlockDesc& d, const BlockGeometry& g,
                        int64_t text_len);
// Elements per row of the block's own working tensors (see block_costs.cpp).
double unet_block_work_elems(const model::UNetConfig& c, const model::UNetBlockDesc& d, const BlockGeometry& g,
                             int64_t text_len);

// With a projection (CLIPTextModelWithProjection): text_projection too.
// One block of the text encoder's list (per sequence row) or the VAE decoder's
// (per image); the totals below are their sums over the blocks a render runs.
int64_t text_block_params(const model::ClipTextConfig& c, const model::TextBlockDesc& b);
double text_block_flops(const model::ClipTextConfig& c, const model::TextBlockDesc& b, int64_t len);
int64_t vae_block_params(const model::VaeConfig& c, const model::VaeBlockDesc& b);
double vae_block_flops(const model::VaeConfig& c, const model::VaeBlockDesc& b, int64_t latent_h, int64_t latent_w);

int64_t text_encoder_params(const model::ClipTextConfig& c);
// Per sequence, through `layers` layers (0: all; SDXL's first encoder stops one
// short), and the pooled row through the projection where there is one.
double text_encoder_flops(const model::ClipTextConfig& c, int64_t len, int64_t layers = 0);
double text_encoder_work_elems(const model::ClipTextConfig& c, int64_t len);

// post_quant_conv (when used) + decoder.*
int64_t vae_decoder_params(const model::VaeConfig& c);
double vae_decoder_flops(const model::VaeConfig& c, int64_t latent_h, int64_t latent_w);  // per image
double vae_decoder_work_elems(const model::VaeConfig& c, int64_t latent_h, int64_t latent_w);

}  // namespace farm::partition
