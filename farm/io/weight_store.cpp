#include "farm/io/weight_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "farm/core/error.h"

namespace farm {

namespace fs = std::filesystem;

WeightStore::WeightStore(const std::string& dir, WeightShare* share) : dir_(dir), share_(share) {
  if (!fs::is_directory(dir)) fail(dir, ": model folder is missing");
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) fail(dir, ": no .safetensors weight file in this folder");
  for (const auto& p : paths) files_.push_back(std::make_unique<SafetensorsFile>(p));
}

WeightStore::WeightStore(const std::string& file, PartKeyMap map, WeightShare* share)
    : dir_(file), map_(std::move(map)), mapped_(true), share_(share) {
  files_.push_back(std::make_unique<SafetensorsFile>(file));
}

const SafetensorsFile* WeightStore::file_of(const std::string& key) const {
  for (const auto& f : files_)
    if (f->find(key)) return f.get();
  return nullptr;
}

bool WeightStore::locate(const std::string& key, Located& out) const {
  if (!mapped_) {
    out.file = file_of(key);
    if (!out.file) return false;
    out.entry = *out.file->find(key);
    return true;
  }
  const auto it = map_.find(key);
  if (it == map_.end()) return false;
  const MappedTensor& m = it->second;
  out.file = files_[0].get();
  const auto* e = out.file->find(m.source);
  FARM_ASSERT(e, "mapped key ", key, " -> missing ", m.source);
  out.entry = *e;
  out.entry.name = key;
  if (m.rows >= 0) {  // rows [row_begin, row_begin + rows) of the stored tensor: a contiguous byte range
    const Shape& s = e->shape;
    if (s.empty() || m.row_begin + m.rows > s[0])
      fail(out.file->path(), ": tensor '", m.source, "' of shape ", shape_str(s), " cannot hold rows ", m.row_begin,
           "..", m.row_begin + m.rows, " for '", key, "'");
    const uint64_t row_bytes = (e->end - e->begin) / static_cast<uint64_t>(s[0]);
    out.entry.shape[0] = m.rows;
    out.entry.begin = e->begin + static_cast<uint64_t>(m.row_begin) * row_bytes;
    out.entry.end = out.entry.begin + static_cast<uint64_t>(m.rows) * row_bytes;
  }
  if (m.transpose) {
    if (out.entry.shape.size() != 2) fail(out.file->path(), ": tensor '", m.source, "' is not a matrix");
    std::swap(out.entry.shape[0], out.entry.shape[1]);
    out.transpose = true;
  }
  return true;
}

bool WeightStore::contains(const std::string& key) const {
  Located at;
  return locate(key, at);
}

Shape WeightStore::shape_of(const std::string& key) const {
  Located at;
  if (!locate(key, at)) fail(dir_, ": missing weight '", key, "'");
  return at.entry.shape;
}

std::vector<std::string> WeightStore::keys() const {
  std::vector<std::string> r;
  if (mapped_) {
    for (const auto& [k, m] : map_) r.push_back(k);
    return r;
  }
  for (const auto& f : files_)
    for (const auto& [k, e] : f->entries()) r.push_back(k);
  std::sort(r.begin(), r.end());
  return r;
}

WeightStore::Located WeightStore::checked(const std::string& key, const Shape& expected) const {
  Located at;
  if (!locate(key, at))
    fail(files_.size() == 1 ? files_[0]->path() : dir_, ": missing weight '", key, "' (expected shape ",
         shape_str(expected), ")");
  const auto& e = at.entry;
  const std::string stored = mapped_ ? cat(" (stored as '", map_.at(key).source, "')") : "";
  if (e.dtype != DType::f32 && e.dtype != DType::f16 && e.dtype != DType::bf16)
    fail(at.file->path(), ": weight '", key, "'", stored, " has dtype ", dtype_name(e.dtype),
         " (expected F32, F16 or BF16)");
  if (e.shape != expected)
    fail(at.file->path(), ": weight '", key, "'", stored, " has shape ", shape_str(e.shape), " (expected ",
         shape_str(expected), ")");
  return at;
}

namespace {

// The fp32 tensor of a located entry: converted from its bytes, transposed where mapped so.
Tensor to_f32(const SafetensorsFile::Entry& e, const uint8_t* stored, bool transpose) {
  Tensor t = stored_to_f32(e, stored);
  if (!transpose) return t;
  // Stored [a, b] (entry shape already swapped to [b, a]): out[j][i] = stored[i][j].
  const int64_t b = e.shape[0], a = e.shape[1];
  Tensor out({b, a});
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) out.data[j * a + i] = t.data[i * b + j];
  return out;
}

}  // namespace

Tensor WeightStore::get(const std::string& key, const Shape& expected) const {
  if (share_ && !share_->reads_files()) {
    // A follower: its own header says what to expect; the bytes come from
    // the reader. Its own error leaves the reader's round for leave() to take.
    return received(checked(key, expected), key);
  }
  Located at;
  try {
    at = checked(key, expected);
  } catch (const Error& e) {
    if (share_) share_->send_error(e.what());  // the group fails with the reader's message
    throw;
  }
  const auto& e = at.entry;
  const uint64_t size = e.end - e.begin;
  loaded_.insert(key);
  loaded_bytes_ += size;
  bytes_read_ += size;
  // The entry's range inside the file's data buffer: the bytes of its (first) stored tensor, offset.
  const auto* whole = at.file->find(mapped_ ? map_.at(key).source : key);
  const uint8_t* bytes = at.file->stored_bytes(whole->name) + (e.begin - whole->begin);
  // The followers convert the same bytes through the same stored_to_f32.
  if (share_) share_->send(key, e.dtype, bytes, size);
  Tensor t = to_f32(e, bytes, at.transpose);
  SafetensorsFile::release(bytes, size);  // the converted copy is what the model keeps
  return t;
}

Tensor WeightStore::received(const Located& at, const std::string& key) const {
  const auto& e = at.entry;
  const WeightShare::Stored s = share_->receive(key);
  if (s.dtype != e.dtype || s.size != e.end - e.begin)
    fail(at.file->path(), ": weight '", key, "' is ", e.end - e.begin, " bytes of ", dtype_name(e.dtype),
         " here but ", s.size, " bytes of ", dtype_name(s.dtype), " in the file ", share_->reader_name(),
         " read for this stage: the ranks see different model files");
  loaded_.insert(key);
  loaded_bytes_ += s.size;
  bytes_received_ += s.size;
  return to_f32(e, s.bytes, at.transpose);
}

}  // namespace farm
