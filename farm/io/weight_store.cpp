#include "farm/io/weight_store.h"

#include <algorithm>
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

const SafetensorsFile* WeightStore::file_of(const std::string& key) const {
  for (const auto& f : files_)
    if (f->find(key)) return f.get();
  return nullptr;
}

bool WeightStore::contains(const std::string& key) const { return file_of(key) != nullptr; }

Shape WeightStore::shape_of(const std::string& key) const {
  const SafetensorsFile* f = file_of(key);
  if (!f) fail(dir_, ": missing weight '", key, "'");
  return f->find(key)->shape;
}

std::vector<std::string> WeightStore::keys() const {
  std::vector<std::string> r;
  for (const auto& f : files_)
    for (const auto& [k, e] : f->entries()) r.push_back(k);
  std::sort(r.begin(), r.end());
  return r;
}

const SafetensorsFile& WeightStore::checked(const std::string& key, const Shape& expected) const {
  const SafetensorsFile* f = file_of(key);
  if (!f) fail(files_.size() == 1 ? files_[0]->path() : dir_, ": missing weight '", key, "' (expected shape ",
               shape_str(expected), ")");
  const auto* e = f->find(key);
  if (e->dtype != DType::f32 && e->dtype != DType::f16 && e->dtype != DType::bf16)
    fail(f->path(), ": weight '", key, "' has dtype ", dtype_name(e->dtype), " (expected F32, F16 or BF16)");
  if (e->shape != expected)
    fail(f->path(), ": weight '", key, "' has shape ", shape_str(e->shape), " (expected ", shape_str(expected), ")");
  return *f;
}

Tensor WeightStore::get(const std::string& key, const Shape& expected) const {
  if (share_ && !share_->reads_files()) {
    // A follower: its own header says what to expect; the bytes come from
    // the reader. Its own error leaves the reader's round for leave() to take.
    return received(checked(key, expected), key);
  }
  const SafetensorsFile* f = nullptr;
  try {
    f = &checked(key, expected);
  } catch (const Error& e) {
    if (share_) share_->send_error(e.what());  // the group fails with the reader's message
    throw;
  }
  const auto& e = *f->find(key);
  loaded_.insert(key);
  loaded_bytes_ += e.end - e.begin;
  bytes_read_ += e.end - e.begin;
  // The followers convert the same bytes through the same stored_to_f32.
  if (share_) share_->send(key, e.dtype, f->stored_bytes(key), e.end - e.begin);
  return f->load_f32(key);
}

Tensor WeightStore::received(const SafetensorsFile& f, const std::string& key) const {
  const auto& e = *f.find(key);
  const WeightShare::Stored s = share_->receive(key);
  if (s.dtype != e.dtype || s.size != e.end - e.begin)
    fail(f.path(), ": weight '", key, "' is ", e.end - e.begin, " bytes of ", dtype_name(e.dtype), " here but ",
         s.size, " bytes of ", dtype_name(s.dtype), " in the file ", share_->reader_name(),
         " read for this stage: the ranks see different model files");
  loaded_.insert(key);
  loaded_bytes_ += s.size;
  bytes_received_ += s.size;
  return stored_to_f32(e, s.bytes);
}

}  // namespace farm
