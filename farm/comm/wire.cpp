#include "farm/comm/wire.h"

#include <cstring>

#include "farm/core/error.h"

namespace farm::comm {

WireWriter::WireWriter(const nlohmann::json& header) {
  const std::string h = header.dump();
  u64(h.size());
  out_.insert(out_.end(), h.begin(), h.end());
}

void WireWriter::u64(uint64_t v) {
  uint8_t b[8];
  std::memcpy(b, &v, 8);
  out_.insert(out_.end(), b, b + 8);
}

void WireWriter::tensor(const Tensor& t) {
  u64(t.shape.size());
  for (int64_t d : t.shape) u64(static_cast<uint64_t>(d));
  const auto* p = reinterpret_cast<const uint8_t*>(t.data.data());
  out_.insert(out_.end(), p, p + t.data.size() * sizeof(float));
}

void WireWriter::blob(const Bytes& b) {
  u64(b.size());
  out_.insert(out_.end(), b.begin(), b.end());
}

WireReader::WireReader(const Bytes& in, std::string what) : in_(in), what_(std::move(what)) {
  const uint64_t n = u64();
  if (n > in_.size() - pos_) fail(what_, ": header of ", n, " bytes in a message of ", in_.size());
  header_ = nlohmann::json::parse(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                  in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n), nullptr, false);
  if (header_.is_discarded()) fail(what_, ": header is not JSON");
  pos_ += n;
}

uint64_t WireReader::u64() {
  if (in_.size() - pos_ < 8) fail(what_, ": message ends early at byte ", pos_);
  uint64_t v;
  std::memcpy(&v, in_.data() + pos_, 8);
  pos_ += 8;
  return v;
}

Tensor WireReader::tensor() {
  const uint64_t nd = u64();
  if (nd > 8) fail(what_, ": tensor with ", nd, " dimensions");
  Shape s;
  for (uint64_t i = 0; i < nd; ++i) s.push_back(static_cast<int64_t>(u64()));
  const size_t bytes = static_cast<size_t>(numel(s)) * sizeof(float);
  if (bytes > in_.size() - pos_) fail(what_, ": tensor ", shape_str(s), " runs past the message end");
  Tensor t(s);
  std::memcpy(t.data.data(), in_.data() + pos_, bytes);
  pos_ += bytes;
  return t;
}

Bytes WireReader::blob() {
  const uint64_t n = u64();
  if (n > in_.size() - pos_) fail(what_, ": blob of ", n, " bytes runs past the message end");
  Bytes b(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
  pos_ += n;
  return b;
}

}  // namespace farm::comm
