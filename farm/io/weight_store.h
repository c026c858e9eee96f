// The weights of one model part (unet/, text_encoder/, vae/): every
// *.safetensors file of its folder, looked up by checkpoint key. Each read is
// checked against the shape the model expects, and every key read is
// recorded, so a pipeline stage can prove it loaded only its own blocks.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "farm/core/tensor.h"
#include "farm/io/safetensors.h"

namespace farm {

class WeightStore {
 public:
  // Opens (mmaps and validates) every .safetensors file in `dir`.
  explicit WeightStore(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool contains(const std::string& key) const;
  // The weight as fp32; error naming file and key when missing, of the wrong
  // dtype or of a shape other than `expected`.
  Tensor get(const std::string& key, const Shape& expected) const;
  // Shape as stored (error when missing).
  Shape shape_of(const std::string& key) const;

  const std::set<std::string>& loaded_keys() const { return loaded_; }
  size_t loaded_bytes() const { return loaded_bytes_; }

 private:
  const SafetensorsFile* file_of(const std::string& key) const;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  mutable std::set<std::string> loaded_;
  mutable size_t loaded_bytes_ = 0;
};

}  // namespace farm
