// The weights of one model part (unet/, text_encoder/, vae/): every
// *.safetensors file of its folder, looked up by checkpoint key; or the part's
// tensors inside a single-file checkpoint, by their diffusers names
// (farm/io/checkpoint_keys.h). Each read is
// checked against the shape the model expects, and every key read is
// recorded, so a pipeline stage can prove it loaded only its own blocks.
// With a WeightShare, only the stage group's reader reads the tensors' bytes
// from the files; the other ranks receive them (farm/io/weight_share.h).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "farm/core/tensor.h"
#include "farm/io/checkpoint_keys.h"
#include "farm/io/safetensors.h"
#include "farm/io/weight_share.h"

namespace farm {

class WeightStore {
 public:
  // Opens (mmaps and validates) every .safetensors file in `dir`. `share`
  // (outliving the store): the stage group to read the bytes for, or take them from.
  explicit WeightStore(const std::string& dir, WeightShare* share = nullptr);
  // One part of a single-file checkpoint: `map` says where each diffusers key is in `file`.
  WeightStore(const std::string& file, PartKeyMap map, WeightShare* share = nullptr);

  const std::string& dir() const { return dir_; }
  bool contains(const std::string& key) const;
  // The weight as fp32; error naming file and key when missing, of the wrong
  // dtype or of a shape other than `expected`.
  Tensor get(const std::string& key, const Shape& expected) const;
  // Shape as stored (error when missing).
  Shape shape_of(const std::string& key) const;
  // Every key of the part's files, sorted; reads headers only (LoRA files
  // are checked against the whole model on a rank that loads part of it).
  std::vector<std::string> keys() const;

  const std::set<std::string>& loaded_keys() const { return loaded_; }
  size_t loaded_bytes() const { return loaded_bytes_; }
  // Of loaded_bytes(): read from this rank's files, or received from its
  // stage group's reader.
  size_t bytes_read() const { return bytes_read_; }
  size_t bytes_received() const { return bytes_received_; }

 private:
  // Where a key's bytes are: its file, its entry (a row range of a stored tensor
  // for a mapped key, with that shape) and whether the fp32 tensor is transposed.
  struct Located {
    const SafetensorsFile* file = nullptr;
    SafetensorsFile::Entry entry;
    bool transpose = false;
  };
  bool locate(const std::string& key, Located& out) const;
  const SafetensorsFile* file_of(const std::string& key) const;
  // The file holding `key`, checked against `expected` (errors as get()).
  Located checked(const std::string& key, const Shape& expected) const;
  Tensor received(const Located& at, const std::string& key) const;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  PartKeyMap map_;  // single-file checkpoints: diffusers key -> tensor in files_[0]
  bool mapped_ = false;
  WeightShare* share_ = nullptr;
  mutable std::set<std::string> loaded_;
  mutable size_t loaded_bytes_ = 0, bytes_read_ = 0, bytes_received_ = 0;
};

}  // namespace farm
