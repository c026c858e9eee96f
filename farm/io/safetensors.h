// safetensors reader: memory-maps the file and checks every header field,
// offset and size against the file before any tensor is touched.
// Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the byte buffer that the offsets index.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "farm/core/tensor.h"

namespace farm {

class SafetensorsFile {
 public:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin = 0, end = 0;  // byte range inside the data buffer
  };

  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;

  // The tensor converted to fp32 (F32/F16/BF16 and, for reference data, I64/I32).
  Tensor load_f32(const std::string& name) const;
  // The tensor's bytes as stored, in the mapping (what a stage group's
  // reader sends to the ranks that do not read the file: farm/io/weight_share.h).
  const uint8_t* stored_bytes(const std::string& name) const { return bytes(at(name)); }
  std::vector<int64_t> load_i64(const std::string& name) const;
  // Hands the mapping's pages under [p, p + size) back once a converted copy
  // is all the model keeps (they stay in the page cache): without it a 2 GB
  // checkpoint sits in the resident set beside the weights made from it
  // until the file is closed. A page shared with a tensor not yet read just
  // faults in again from the file.
  static void release(const uint8_t* p, uint64_t size);

 private:
  const uint8_t* bytes(const Entry& e) const { return data_ + e.begin; }
  const Entry& at(const std::string& name) const;

  // Unmaps on destruction, also when the constructor throws half-way.
  struct Mapping {
    void* addr = nullptr;
    size_t size = 0;
    ~Mapping();
  };

  std::string path_;
  Mapping map_;
  const uint8_t* data_ = nullptr;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// The tensor `e` describes, converted to fp32 from its stored bytes
// (e.end - e.begin of them): load_f32 and the ranks that receive a weight's
// bytes from their stage group's reader convert through this one function,
// so their weights are bit-identical.
Tensor stored_to_f32(const SafetensorsFile::Entry& e, const uint8_t* stored);

}  // namespace farm
