// The safetensors reader against hand-built files: exact values for every
// dtype (bit patterns from the IEEE formats) and a clear error, naming the
// file and tensor, for each way a file can be broken.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/io/safetensors.h"
#include "farm/io/weight_store.h"

namespace fs = std::filesystem;
using farm::SafetensorsFile;

namespace {

std::string tmpdir() {
  auto d = fs::temp_directory_path() / ("farm_st_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}

// header JSON + data bytes -> a file; header_len_override lies about the length.
std::string write_st(const std::string& name, const std::string& header, const std::string& data,
                     int64_t header_len_override = -1) {
  const std::string path = tmpdir() + "/" + name;
  std::ofstream o(path, std::ios::binary);
  uint64_t n = header_len_override >= 0 ? static_cast<uint64_t>(header_len_override) : header.size();
  for (int i = 0; i < 8; ++i) o.put(static_cast<char>((n >> (8 * i)) & 0xff));
  o << header << data;
  return path;
}

std::string bytes_of(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

void expect_error(const std::string& path, const std::string& needle) {
  try {
    SafetensorsFile f(path);
    FAIL() << "no error for " << path;
  } catch (const farm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Safetensors, ReadsEveryDtypeExactly) {
  const float f32[3] = {1.0f, -2.5f, 3.0e-8f};
  const uint16_t f16[3] = {0x3C00, 0xC100, 0x0001};  // 1, -2.5, 2^-24 (smallest subnormal)
  const uint16_t bf16[2] = {0x3F80, 0xC020};         // 1, -2.5
  const int64_t i64[2] = {49406, -7};
  std::string data = bytes_of(f32, 12) + bytes_of(f16, 6) + bytes_of(bf16, 4) + bytes_of(i64, 16);
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F16","shape":[3,1],"data_offsets":[12,18]},)"
      R"("c":{"dtype":"BF16","shape":[2],"data_offsets":[18,22]},)"
      R"("d":{"dtype":"I64","shape":[1,2],"data_offsets":[22,38]},)"
      R"("__metadata__":{"format":"pt"}})";
  SafetensorsFile f(write_st("ok.safetensors", header, data));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  auto a = f.load_f32("a");
  EXPECT_EQ(a.data, std::vector<float>({1.0f, -2.5f, 3.0e-8f}));
  auto b = f.load_f32("b");
  EXPECT_EQ(b.shape, farm::Shape({3, 1}));
  EXPECT_EQ(b.data, std::vector<float>({1.0f, -2.5f, 5.9604644775390625e-8f}));
  EXPECT_EQ(f.load_f32("c").data, std::vector<float>({1.0f, -2.5f}));
  EXPECT_EQ(f.load_i64("d"), std::vector<int64_t>({49406, -7}));
}

TEST(Safetensors, EmptyHeader) { expect_error(write_st("empty.safetensors", "", "", 0), "not valid JSON"); }

TEST(Safetensors, TruncatedHeaderLength) {
  const std::string path = tmpdir() + "/tiny.safetensors";
  std::ofstream(path, std::ios::binary) << "abc";
  expect_error(path, "truncated");
}

TEST(Safetensors, HeaderRunsPastEnd) {
  expect_error(write_st("hdr.safetensors", R"({"a":{}})", "", 1000), "runs past the end of the file");
}

TEST(Safetensors, HeaderNotJson) { expect_error(write_st("json.safetensors", "{not json", ""), "not valid JSON"); }

TEST(Safetensors, OffsetsBeyondFile) {
  // A file cut short: the header promises 16 bytes, 8 are there.
  expect_error(write_st("trunc.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                        std::string(8, '\0')),
               "'w': data_offsets [0, 16] run past the end");
}

TEST(Safetensors, SizeDisagreesWithShape) {
  expect_error(write_st("size.safetensors", R"({"w":{"dtype":"F16","shape":[4],"data_offsets":[0,16]}})",
                        std::string(16, '\0')),
               "'w': 16 bytes for shape [4] F16 (expected 8)");
}

TEST(Safetensors, UnknownDtype) {
  expect_error(write_st("dtype.safetensors", R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
                        std::string(4, '\0')),
               "dtype 'F8_E4M3' is not supported");
}

TEST(Safetensors, ReversedAndOverlapping) {
  expect_error(write_st("rev.safetensors", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})",
                        std::string(4, '\0')),
               "reversed");
  expect_error(write_st("ovl.safetensors",
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0')),
               "overlap");
}

TEST(Safetensors, MissingFields) {
  expect_error(write_st("fields.safetensors", R"({"w":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')),
               "expected an object with dtype, shape and data_offsets");
  expect_error(write_st("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                        std::string(4, '\0')),
               "negative");
}

// Found by fuzz/fuzz_safetensors: the byte count of a shape wrapped around
// (2^32 x 2^32 x 4 floats read as 0 bytes), and an extent above 2^63 read as
// a negative one, so both files were accepted.
TEST(Safetensors, ShapesPastAnyFileSize) {
  expect_error(write_st("wrap.safetensors",
                        R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", ""),
               "has more bytes than a file can hold");
  expect_error(write_st("huge.safetensors",
                        R"({"w":{"dtype":"F32","shape":[18446744073709551615,18446744073709551615],)"
                        R"("data_offsets":[0,4]}})",
                        std::string(4, '\0')),
               "has more bytes than a file can hold");
}

// Found by fuzz/fuzz_safetensors: a tensor with a 0 in its shape (legal, no
// bytes) passed a null pointer to memcpy, undefined even for 0 bytes.
TEST(Safetensors, EmptyTensors) {
  SafetensorsFile f(write_st("empty_tensors.safetensors",
                             R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                             R"("i":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}})",
                             ""));
  const farm::Tensor e = f.load_f32("e");
  EXPECT_EQ(e.shape, farm::Shape({0, 4}));
  EXPECT_TRUE(e.data.empty());
  EXPECT_TRUE(f.load_i64("i").empty());
  EXPECT_TRUE(f.load_f32("i").data.empty());
}

TEST(Safetensors, MissingFile) { expect_error(tmpdir() + "/nope.safetensors", "cannot open"); }

TEST(WeightStore, WrongShapeDtypeAndMissingWeight) {
  const std::string dir = tmpdir() + "/unet";
  fs::create_directories(dir);
  const float v[4] = {1, 2, 3, 4};
  const int64_t ids[1] = {3};
  write_st("unet/diffusion_pytorch_model.safetensors",
           R"({"conv.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
           R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}})",
           bytes_of(v, 16) + bytes_of(ids, 8));
  farm::WeightStore w(dir);
  EXPECT_EQ(w.get("conv.weight", {2, 2}).data, std::vector<float>({1, 2, 3, 4}));
  auto expect_msg = [&](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error";
    } catch (const farm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("unet"), std::string::npos) << e.what();
    }
  };
  expect_msg([&] { w.get("conv.weight", {4}); }, "'conv.weight' has shape [2, 2] (expected [4])");
  expect_msg([&] { w.get("ids", {1}); }, "'ids' has dtype I64");
  expect_msg([&] { w.get("conv.bias", {2}); }, "missing weight 'conv.bias'");
  EXPECT_THROW(farm::WeightStore(tmpdir() + "/no_such_folder"), farm::Error);
}

namespace {

// Rss (kB) of this process's mappings of `path`, from /proc/self/smaps.
int64_t mapped_rss_kb(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int64_t kb = 0;
  while (std::getline(smaps, line)) {
    const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 16;
    if (header) inside = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
    else if (inside && line.rfind("Rss:", 0) == 0) kb += std::stoll(line.substr(4));
  }
  return kb;
}

}  // namespace

// A weight read through the store leaves only its fp32 copy resident, not
// the file's pages beside it (a 2 GB checkpoint otherwise doubled the peak
// RSS of loading until the file was closed).
TEST(WeightStore, ReadWeightsLeaveTheFilesPagesOutOfTheResidentSet) {
  const std::string dir = tmpdir() + "/vae";
  fs::create_directories(dir);
  constexpr int64_t kCount = 1 << 20;  // 4 MB per tensor
  std::vector<float> a(kCount), b(kCount);
  for (int64_t i = 0; i < kCount; ++i) a[i] = static_cast<float>(i % 1000), b[i] = -static_cast<float>(i % 777);
  const std::string shape = "[" + std::to_string(kCount) + "]";
  const std::string path = fs::canonical(fs::path(write_st(
                               "vae/diffusion_pytorch_model.safetensors",
                               R"({"a":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,)" +
                                   std::to_string(4 * kCount) + R"(]},"b":{"dtype":"F32","shape":)" + shape +
                                   R"(,"data_offsets":[)" + std::to_string(4 * kCount) + "," +
                                   std::to_string(8 * kCount) + "]}}",
                               bytes_of(a.data(), 4 * kCount) + bytes_of(b.data(), 4 * kCount))))
                               .string();
  farm::WeightStore w(dir);
  EXPECT_EQ(w.get("a", {kCount}).data, a);
  EXPECT_EQ(w.get("b", {kCount}).data, b);
  // Both tensors were read through the mapping (8 MB); at most the pages
  // the header and the tensors' edges share stay.
  EXPECT_LT(mapped_rss_kb(path), 64) << path;
  // Read again, the pages come back from the file with the same bytes.
  EXPECT_EQ(w.get("a", {kCount}).data, a);
}
