// The byte layout of a message: a JSON header, then tensors and blobs in the
// order written. Tensors go as raw little-endian fp32 after their shape, so
// the bytes a stage sends are the bytes the cost model counts (plus the
// header and 8 bytes per dimension).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "farm/comm/transport.h"
#include "farm/core/tensor.h"

namespace farm::comm {

class WireWriter {
 public:
  explicit WireWriter(const nlohmann::json& header);
  void tensor(const Tensor& t);
  void blob(const Bytes& b);
  Bytes take() { return std::move(out_); }

 private:
  void u64(uint64_t v);
  Bytes out_;
};

// Reads what WireWriter wrote; a short or malformed message fails naming `what`.
class WireReader {
 public:
  WireReader(const Bytes& in, std::string what);
  const nlohmann::json& header() const { return header_; }
  Tensor tensor();
  Bytes blob();
  bool at_end() const { return pos_ == in_.size(); }

 private:
  uint64_t u64();
  const Bytes& in_;
  std::string what_;
  size_t pos_ = 0;
  nlohmann::json header_;
};

}  // namespace farm::comm
