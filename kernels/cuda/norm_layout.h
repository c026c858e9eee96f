// How the group norm kernels (norm.cu) cut an NHWC tensor into blocks: a
// block owns `groups_per_block` whole groups (a run of channels_per_block
// channels, contiguous within a pixel row) over a slab of `rows_per_split`
// pixel rows. Host code, in a plain header so tests and the resource notes
// can print what a shape launches.
//
// Nothing here depends on the batch: the slabs, and so every summation
// order, are a function of (hw, channels, groups) and x/y alignment only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "kernels/cuda/cuda_common.h"

namespace farm::kernels::cuda {

constexpr int kGroupNormThreads = 256;
// With 16-byte vectors a block takes 8 / gcd(channels_per_group, 8) groups.
constexpr int kGroupNormMaxGroupsPerBlock = 8;
// About 32 elements (four 16-byte loads) per thread per pass: enough work to
// hide a block's start-up and the combine, small enough that SD 1.5's
// 64×64×320 group norm at batch 2 launches 320 blocks (~3 per A100 SM).
constexpr int64_t kGroupNormElementsPerBlock = 8192;
// (mean, M2) floats per (sample, group, slab) between the two launches: 1 MiB.
constexpr int64_t kGroupNormScratchFloats = int64_t{1} << 18;

struct GroupNormLayout {
  int64_t channels = 0;       // row stride of x and y, in elements
  int channels_per_group = 0;
  int vector = 1;             // elements per load: 8 (16 bytes) or 1
  int groups_per_block = 1;
  int channels_per_block = 0;
  int vectors_per_row = 0;    // channels_per_block / vector
  int row_step = 1;           // rows a block covers per step (threads / vectors_per_row)
  int64_t rows_per_split = 0;
  int splits = 0;             // slabs per (sample, group)
  int64_t samples_per_launch = 0;  // batch slice whose partials fit the scratch
  int stats_smem_bytes = 0;

  int64_t blocks_per_sample(int64_t groups) const { return static_cast<int64_t>(splits) * (groups / groups_per_block); }
};

inline GroupNormLayout group_norm_layout(int64_t hw, int64_t channels, int64_t groups, bool aligned16) {
  GroupNormLayout l;
  l.channels = channels;
  l.channels_per_group = static_cast<int>(channels / groups);
  // 16-byte vectors need a block's run of channels to be a multiple of 8
  // (every row of it then starts 16-byte aligned) and whole groups per block.
  const int gpb = 8 / std::gcd(l.channels_per_group, 8);
  if (aligned16 && groups % gpb == 0) {
    l.vector = 8;
    l.groups_per_block = gpb;
  }
  l.channels_per_block = l.groups_per_block * l.channels_per_group;
  l.vectors_per_row = l.channels_per_block / l.vector;
  l.row_step = l.vectors_per_row < kGroupNormThreads ? kGroupNormThreads / l.vectors_per_row : 1;
  l.rows_per_split = (kGroupNormElementsPerBlock + l.channels_per_block - 1) / l.channels_per_block;
  const int64_t max_splits = kGroupNormScratchFloats / (2 * groups);
  if (max_splits < 1) {
    std::fprintf(stderr, "group_norm_layout: %lld groups exceed the statistics scratch\n",
                 static_cast<long long>(groups));
    std::abort();
  }
  // Huge images with many groups: longer slabs, so one sample's partials fit.
  if ((hw + l.rows_per_split - 1) / l.rows_per_split > max_splits)
    l.rows_per_split = (hw + max_splits - 1) / max_splits;
  l.splits = static_cast<int>((hw + l.rows_per_split - 1) / l.rows_per_split);
  const int64_t per_sample = 2 * groups * l.splits;
  l.samples_per_launch = kGroupNormScratchFloats / per_sample;
  if (l.samples_per_launch > 65535) l.samples_per_launch = 65535;  // gridDim.y
  const int64_t smem = int64_t{4} * l.row_step * l.channels_per_block;
  if (smem > 48 * 1024) {
    std::fprintf(stderr, "group_norm_layout: %lld channels per group need %lld bytes of shared memory\n",
                 static_cast<long long>(l.channels_per_group), static_cast<long long>(smem));
    std::abort();
  }
  l.stats_smem_bytes = static_cast<int>(smem);
  return l;
}

}  // namespace farm::kernels::cuda
