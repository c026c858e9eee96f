#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "farm/coord/atomic_file.h"
#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

using farm::testing::fresh_dir;
using farm::testing::read_text;

std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(WriteFileAtomic, WritesAndReplacesLeavingNoTemporaries) {
  const auto dir = fresh_dir();
  const auto path = dir / "out.png";
  write_file_atomic(path.string(), std::string_view("first version"));
  EXPECT_EQ(read_text(path), "first version");
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  write_file_atomic(path.string(), std::string_view(big));
  EXPECT_EQ(read_text(path), big);
  write_file_atomic(path.string(), std::string_view(""));
  EXPECT_EQ(read_text(path), "");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.png"});
}

TEST(WriteFileAtomic, MissingDirectoryIsAnErrorNamingThePath) {
  const auto dir = fresh_dir();
  const std::string path = (dir / "no_such_dir" / "x.png").string();
  try {
    write_file_atomic(path, std::string_view("x"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write " + path), std::string::npos) << e.what();
  }
}

// rename() cannot replace a non-empty directory: the failure must leave the
// target as it was and no temporary behind.
TEST(WriteFileAtomic, FailedRenameLeavesNothingBehind) {
  const auto dir = fresh_dir();
  std::filesystem::create_directories(dir / "taken" / "inner");
  try {
    write_file_atomic((dir / "taken").string(), std::string_view("x"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("renaming"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir / "taken" / "inner"));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"taken"});
}

TEST(ReadFileBytes, MissingFile) {
  const auto dir = fresh_dir();
  EXPECT_THROW(read_file_bytes((dir / "absent").string()), Error);
}

}  // namespace
}  // namespace farm
