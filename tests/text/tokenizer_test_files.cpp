#include "tokenizer_test_files.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace farm::text::testing {

std::string data_path(const std::string& relative) { return std::string(FARM_TEST_DATA) + "/" + relative; }

nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

ScratchDir::ScratchDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("farm_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void ScratchDir::write(const std::string& name, const std::string& content) const {
  std::ofstream(path_ / name, std::ios::binary) << content;
}

void make_tokenizer_folder(const ScratchDir& dir, const std::string& variant) {
  namespace fs = std::filesystem;
  for (const char* f : {"vocab.json", "merges.txt"})
    fs::copy_file(data_path(std::string("clip-vocab/") + f), dir.path() / f);
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"})
    fs::copy_file(data_path("tokenizer/" + variant + "/" + f), dir.path() / f);
}

}  // namespace farm::text::testing
