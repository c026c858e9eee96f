// 8-bit RGB PNG encode/decode with text chunks (A1111's "parameters" chunk).
// Text values are UTF-8 on our side. A value that Latin-1 can hold goes into a
// tEXt chunk as Latin-1 bytes, anything else into an uncompressed iTXt chunk:
// the rule PIL's PngInfo.add_text follows, so A1111, ComfyUI and exiftool read
// both. Encoding writes no tIME chunk, so identical input gives identical bytes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace farm {

using PngText = std::vector<std::pair<std::string, std::string>>;  // (key, UTF-8 value), file order

// rgb: [height, width, 3] row-major. Keys: 1..79 printable Latin-1 characters
// (PNG spec); values: valid UTF-8 without NUL. Both are our own constants or
// validated job fields, so a violation is a bug.
// zlib_level: 512x512 SD-like RGB (shared 2-core x86 box, best of 3) took
// 55 ms / 431 KB at 1, 92 ms / 417 KB at 3, 300 ms / 366 KB at 6 (PIL's and
// so A1111's default). A farm encodes dozens of images a second per node, so
// the default is the fast end.
std::vector<std::uint8_t> encode_png(int width, int height, const std::uint8_t* rgb, const PngText& text,
                                     int zlib_level = 1);

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // [height, width, 3]
  PngText text;                   // tEXt/zTXt values converted from Latin-1 to UTF-8
};

// Any colour type or bit depth is converted to 8-bit RGB (alpha dropped).
DecodedPng decode_png(const std::vector<std::uint8_t>& bytes, const std::string& name = "<memory>");
DecodedPng decode_png_file(const std::string& path);

}  // namespace farm
