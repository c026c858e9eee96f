#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "farm/coord/atomic_file.h"
#include "farm/coord/png.h"
#include "farm/core/error.h"
#include "test_files.h"

namespace farm {
namespace {

// A chunk as the PNG spec lays it out, read without libpng.
struct Chunk {
  std::string type;
  std::string data;
};

// CRC-32 as in the PNG spec (ISO 3309, polynomial 0xEDB88320), bit by bit.
std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (const char ch : bytes) {
    c ^= static_cast<std::uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

std::vector<Chunk> parse_chunks(const std::vector<std::uint8_t>& png) {
  static constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_GE(png.size(), 8u);
  EXPECT_EQ(std::memcmp(png.data(), kSignature, 8), 0);
  const auto be32 = [&](std::size_t at) {
    return std::uint32_t{png[at]} << 24 | std::uint32_t{png[at + 1]} << 16 | std::uint32_t{png[at + 2]} << 8 |
           png[at + 3];
  };
  std::vector<Chunk> chunks;
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = be32(at);
    EXPECT_LE(at + 12 + length, png.size());
    const std::string type_and_data(png.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                    png.begin() + static_cast<std::ptrdiff_t>(at + 8 + length));
    EXPECT_EQ(be32(at + 8 + length), crc32(type_and_data)) << "CRC of " << type_and_data.substr(0, 4);
    chunks.push_back({type_and_data.substr(0, 4), type_and_data.substr(4)});
    at += 12 + length;
  }
  EXPECT_EQ(at, png.size());
  return chunks;
}

std::vector<std::uint8_t> test_pixels(int width, int height) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(width) * height * 3);
  std::uint32_t state = 12345;
  for (auto& v : rgb) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<std::uint8_t>(state >> 24);
  }
  return rgb;
}

const std::string kLatin1Prompt = "caf\xC3\xA9 au lait, \xC2\xBD moon";  // é and ½: Latin-1
const std::string kUnicodePrompt = "\xE7\x8C\xAB \xE2\x9C\x93 \xF0\x9F\x98\x80";   // 猫 ✓ 😀

TEST(Png, RoundTripKeepsPixelsAndTextExactly) {
  for (const auto& [w, h] : {std::pair{1, 1}, std::pair{7, 5}, std::pair{64, 48}}) {
    const std::vector<std::uint8_t> rgb = test_pixels(w, h);
    const PngText text = {{"parameters", kLatin1Prompt + "\nSteps: 20"}, {"farm", kUnicodePrompt}, {"empty", ""}};
    const DecodedPng back = decode_png(encode_png(w, h, rgb.data(), text));
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.rgb, rgb);
    EXPECT_EQ(back.text, text);
  }
}

TEST(Png, EncodingIsDeterministic) {
  const std::vector<std::uint8_t> rgb = test_pixels(32, 16);
  const PngText text = {{"parameters", kUnicodePrompt}};
  EXPECT_EQ(encode_png(32, 16, rgb.data(), text), encode_png(32, 16, rgb.data(), text));
}

TEST(Png, EveryZlibLevelDecodesToTheSamePixels) {
  const std::vector<std::uint8_t> rgb = test_pixels(40, 24);
  for (int level = 0; level <= 9; ++level) {
    EXPECT_EQ(decode_png(encode_png(40, 24, rgb.data(), {}, level)).rgb, rgb) << "level " << level;
  }
}

// The chunk layout from the PNG spec, read by hand: Latin-1 text goes into
// tEXt as Latin-1 bytes, other text into an uncompressed iTXt, both before
// IDAT, and there is no tIME chunk to make the bytes differ between runs.
TEST(Png, ChunkLayoutFollowsThePngSpec) {
  const std::vector<std::uint8_t> rgb = test_pixels(4, 3);
  const auto png = encode_png(4, 3, rgb.data(), {{"parameters", kLatin1Prompt}, {"farm", kUnicodePrompt}});
  const std::vector<Chunk> chunks = parse_chunks(png);
  ASSERT_GE(chunks.size(), 5u);
  EXPECT_EQ(chunks.front().type, "IHDR");
  EXPECT_EQ(chunks.front().data, std::string("\0\0\0\4\0\0\0\3\x08\x02\0\0\0", 13));  // 4x3, 8-bit RGB
  EXPECT_EQ(chunks.back().type, "IEND");
  std::size_t first_idat = chunks.size(), text_chunks = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    EXPECT_NE(c.type, "tIME");
    if (c.type == "IDAT" && first_idat == chunks.size()) first_idat = i;
    if (c.type == "tEXt") {
      ++text_chunks;
      EXPECT_LT(i, first_idat);
      EXPECT_EQ(c.data, std::string("parameters\0caf\xE9 au lait, \xBD moon", 31));
    }
    if (c.type == "iTXt") {
      ++text_chunks;
      EXPECT_LT(i, first_idat);
      // keyword, NUL, compression flag 0, method 0, empty language, NUL, empty translated keyword, NUL, text
      EXPECT_EQ(c.data, std::string("farm\0\0\0\0\0", 9) + kUnicodePrompt);
    }
  }
  EXPECT_EQ(text_chunks, 2u);
}

// tests/cli/data/pil_text.png was written by PIL (make_pil_png.py beside it),
// the writer A1111 uses: a 3x2 image, "parameters" in tEXt, "farm" in iTXt.
TEST(Png, DecodesWhatPilWrote) {
  const DecodedPng png = decode_png_file(FARM_CLI_TEST_DATA "/pil_text.png");
  ASSERT_EQ(png.width, 3);
  ASSERT_EQ(png.height, 2);
  std::vector<std::uint8_t> expected;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) {
      expected.push_back(static_cast<std::uint8_t>((x * 40 + y * 7) % 256));
      expected.push_back(static_cast<std::uint8_t>((255 - x * 50) % 256));
      expected.push_back(static_cast<std::uint8_t>((y * 100 + x) % 256));
    }
  }
  EXPECT_EQ(png.rgb, expected);
  const PngText text = {
      {"parameters", "caf\xC3\xA9 au lait\nSteps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1, Size: 3x2"},
      {"farm", "\xE7\x8C\xAB \xE2\x9C\x93 emoji \xF0\x9F\x98\x80"}};
  EXPECT_EQ(png.text, text);
}

TEST(Png, FileRoundTripThroughAtomicWrite) {
  const auto dir = farm::testing::fresh_dir();
  const std::vector<std::uint8_t> rgb = test_pixels(9, 2);
  const auto bytes = encode_png(9, 2, rgb.data(), {{"parameters", "x"}});
  const std::string path = (dir / "00000-1.png").string();
  write_file_atomic(path, bytes);
  EXPECT_EQ(read_file_bytes(path), bytes);
  EXPECT_EQ(decode_png_file(path).rgb, rgb);
}

TEST(Png, RejectsWhatIsNotAPng) {
  EXPECT_THROW(decode_png({1, 2, 3}, "junk.bin"), Error);
  const std::vector<std::uint8_t> rgb = test_pixels(8, 8);
  std::vector<std::uint8_t> bytes = encode_png(8, 8, rgb.data(), {});
  bytes.resize(bytes.size() / 2);
  try {
    decode_png(bytes, "half.png");
    ADD_FAILURE() << "a truncated PNG decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("half.png: invalid PNG"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace farm
