// Whole-file writes that a crash or a full disk never leave half done: the
// bytes go to a temporary file in the same directory, are fsync'ed, and are
// renamed over `path` (rename is atomic within one filesystem).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace farm {

void write_file_atomic(const std::string& path, const std::uint8_t* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes);
void write_file_atomic(const std::string& path, std::string_view bytes);

std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace farm
