// Shared by the tokenizer tests: reference data paths and scratch folders.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace farm::text::testing {

std::string data_path(const std::string& relative);  // under tests/data
nlohmann::json load_json(const std::string& path);

// A fresh, empty folder under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// A diffusers-style tokenizer/ folder: the committed CLIP vocab plus the
// config files of tests/data/tokenizer/<variant> ("sd1" or "sd2").
void make_tokenizer_folder(const ScratchDir& dir, const std::string& variant);

}  // namespace farm::text::testing
