#include "farm/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "farm/core/error.h"

namespace farm {
namespace {

DType parse_dtype(const std::string& path, const std::string& name, const std::string& s) {
  if (s == "F32") return DType::f32;
  if (s == "F16") return DType::f16;
  if (s == "BF16") return DType::bf16;
  if (s == "I64") return DType::i64;
  if (s == "I32") return DType::i32;
  fail(path, ": tensor '", name, "': dtype '", s, "' is not supported (expected F32, F16, BF16, I64 or I32)");
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open safetensors file: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  const size_t file_size = static_cast<size_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(path, ": truncated safetensors file (", file_size, " bytes; the 8-byte header length is missing)");
  }
  void* addr = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED) fail(path, ": mmap failed: ", std::strerror(errno));
  map_.addr = addr;
  map_.size = file_size;
  const auto* base = static_cast<const uint8_t*>(addr);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | base[i];
  if (header_len > file_size - 8) {
    fail(path, ": header length ", header_len, " runs past the end of the file (", file_size,
         " bytes): truncated or not a safetensors file");
  }
  data_ = base + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": header is not valid JSON: ", e.what());
  }
  {
    if (!header.is_object()) fail(path, ": header is not a JSON object");
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const auto& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) fail(path, ": '__metadata__' must be an object of strings");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) fail(path, ": '__metadata__' field '", m.key(), "' is not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
        fail(path, ": tensor '", name, "': expected an object with dtype, shape and data_offsets");
      if (!v["dtype"].is_string()) fail(path, ": tensor '", name, "': dtype is not a string");
      Entry e;
      e.name = name;
      e.dtype = parse_dtype(path, name, v["dtype"].get<std::string>());
      if (!v["shape"].is_array()) fail(path, ": tensor '", name, "': shape is not an array");
      // The byte count, multiplied with a check: a crafted shape can wrap it
      // around to match any data_offsets (found by fuzz_safetensors).
      uint64_t want = dtype_size(e.dtype);
      for (const auto& d : v["shape"]) {
        if (!d.is_number_unsigned()) fail(path, ": tensor '", name, "': shape has a non-integer or negative entry");
        const uint64_t extent = d.get<uint64_t>();
        if (extent > uint64_t{INT64_MAX} || __builtin_mul_overflow(want, extent, &want))
          fail(path, ": tensor '", name, "': shape ", v["shape"].dump(), " has more bytes than a file can hold");
        e.shape.push_back(static_cast<int64_t>(extent));
      }
      const auto& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        fail(path, ": tensor '", name, "': data_offsets must be two non-negative integers");
      e.begin = off[0].get<uint64_t>();
      e.end = off[1].get<uint64_t>();
      if (e.begin > e.end)
        fail(path, ": tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] are reversed");
      if (e.end > data_size)
        fail(path, ": tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] run past the end of the data (",
             data_size, " bytes): the file is truncated or corrupt");
      if (e.end - e.begin != want)
        fail(path, ": tensor '", name, "': ", e.end - e.begin, " bytes for shape ", shape_str(e.shape), " ",
             dtype_name(e.dtype), " (expected ", want, ")");
      ranges.emplace_back(e.begin, e.end);
      entries_.emplace(name, std::move(e));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].first < ranges[i - 1].second)
        fail(path, ": two tensors overlap at byte ", ranges[i].first, " of the data buffer");
  }
}

SafetensorsFile::Mapping::~Mapping() {
  if (addr) ::munmap(addr, size);
}

const SafetensorsFile::Entry* SafetensorsFile::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

const SafetensorsFile::Entry& SafetensorsFile::at(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) fail(path_, ": no tensor named '", name, "'");
  return *e;
}

Tensor SafetensorsFile::load_f32(const std::string& name) const {
  const Entry& e = at(name);
  Tensor t = stored_to_f32(e, bytes(e));
  release(bytes(e), e.end - e.begin);
  return t;
}

void SafetensorsFile::release(const uint8_t* p, uint64_t size) {
  if (size == 0) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<uintptr_t>(p) / page * page;
  const auto last = reinterpret_cast<uintptr_t>(p) + size;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

Tensor stored_to_f32(const SafetensorsFile::Entry& e, const uint8_t* p) {
  Tensor t = Tensor::uninitialized(e.shape);  // every element is written below
  const size_t n = static_cast<size_t>(t.size());
  // A shape with a 0 has no bytes, and an empty vector's data() may be null,
  // which memcpy must never get, even for 0 bytes (found by fuzz_safetensors).
  if (n == 0) return t;
  // Copies through memcpy: the data buffer has no alignment guarantee.
  switch (e.dtype) {
    case DType::f32: std::memcpy(t.ptr(), p, n * 4); break;
    case DType::f16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        t.data[i] = half_to_float(h);
      }
      break;
    case DType::bf16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        t.data[i] = bf16_to_float(h);
      }
      break;
    case DType::i64:
      for (size_t i = 0; i < n; ++i) {
        int64_t v;
        std::memcpy(&v, p + 8 * i, 8);
        t.data[i] = static_cast<float>(v);
      }
      break;
    case DType::i32:
      for (size_t i = 0; i < n; ++i) {
        int32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        t.data[i] = static_cast<float>(v);
      }
      break;
  }
  return t;
}

std::vector<int64_t> SafetensorsFile::load_i64(const std::string& name) const {
  const Entry& e = at(name);
  const size_t n = static_cast<size_t>(numel(e.shape));
  std::vector<int64_t> r(n);
  if (n == 0 && (e.dtype == DType::i64 || e.dtype == DType::i32)) return r;  // no bytes; data() may be null
  if (e.dtype == DType::i64) {
    std::memcpy(r.data(), bytes(e), n * 8);
  } else if (e.dtype == DType::i32) {
    for (size_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, bytes(e) + 4 * i, 4);
      r[i] = v;
    }
  } else {
    fail(path_, ": tensor '", name, "' is ", dtype_name(e.dtype), ", expected an integer dtype");
  }
  return r;
}

}  // namespace farm
