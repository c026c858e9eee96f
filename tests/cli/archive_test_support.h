// Inputs for the archive tests and a reader written against the HDF5 C API
// alone (not the archive's own code), so a test compares what it wrote with
// what any HDF5 reader finds in the file.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "farm/coord/journal.h"
#include "farm/coord/png.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"
#include "tests/cli/test_files.h"

namespace farm::testing {

// [h][w][3] pixels no two test images share: exact values to compare.
inline std::vector<uint8_t> test_rgb(int width, int height, int salt) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = static_cast<uint8_t>(x * 7 + y * 13 + c * 85 + salt * 31);
  return rgb;
}

// A done record whose every field differs from its neighbours'; non-ASCII
// prompts check the UTF-8 round trip.
inline JournalRecord test_record(int64_t index, int width, int height) {
  JournalRecord r;
  r.index = index;
  r.status = "done";
  r.key = sha256_hex(cat("key of item ", index));
  r.seed = 1000003 * index + 7;
  r.file = cat(index, "-", r.seed, ".png");
  r.rank = 3;
  r.render_s = 0.25 + static_cast<double>(index) / 3.0;
  r.model = "tiny-shapes";
  r.item.index = index;
  r.item.prompt = cat("a café in 東京 at night, item ", index);
  r.item.negative_prompt = index % 2 ? "blurry, 低品質" : "";
  r.item.seed = r.seed;
  r.item.steps = 20 + static_cast<int>(index);
  r.item.guidance = 1.5f + 0.125f * static_cast<float>(index);
  r.item.width = width;
  r.item.height = height;
  r.item.sampler = index % 2 ? "ddim" : "euler_a";
  r.item.clip_skip = 1 + static_cast<int>(index % 2);
  return r;
}

// Writes the record's PNG into `out_dir` and records its sha256, as the
// coordinator does before journalling an item.
inline void write_png(const std::string& out_dir, JournalRecord& r, const std::vector<uint8_t>& rgb) {
  const auto bytes = encode_png(r.item.width, r.item.height, rgb.data(), {});
  write_text(std::filesystem::path(out_dir) / r.file, std::string(bytes.begin(), bytes.end()));
  r.sha256 = sha256_hex(bytes.data(), bytes.size());
}

// --- reading with the HDF5 C API ---

struct H5Owned {
  hid_t id;
  explicit H5Owned(hid_t i) : id(i) {}
  H5Owned(const H5Owned&) = delete;
  H5Owned& operator=(const H5Owned&) = delete;
  ~H5Owned() {
    if (id >= 0) H5Idec_ref(id);
  }
};

inline hid_t vlen_utf8() {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

inline std::string read_attribute(hid_t object, const char* name) {
  H5Owned attr(H5Aopen(object, name, H5P_DEFAULT));
  H5Owned type(vlen_utf8());
  char* value = nullptr;
  if (attr.id < 0 || H5Aread(attr.id, type.id, &value) < 0) throw Error(cat("cannot read attribute ", name));
  std::string s = value;
  H5free_memory(value);
  return s;
}

inline hsize_t length_of(hid_t dataset) {
  H5Owned space(H5Dget_space(dataset));
  hsize_t dims[4] = {};
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  return dims[0];
}

template <class T>
std::vector<T> read_column(hid_t group, const char* name, hid_t memory_type) {
  H5Owned d(H5Dopen2(group, name, H5P_DEFAULT));
  std::vector<T> values(length_of(d.id));
  if (d.id < 0 || (!values.empty() && H5Dread(d.id, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0))
    throw Error(cat("cannot read ", name));
  return values;
}

inline std::vector<std::string> read_string_column(hid_t group, const char* name) {
  H5Owned d(H5Dopen2(group, name, H5P_DEFAULT));
  H5Owned file_type(H5Dget_type(d.id));
  // The archive promises UTF-8 variable-length strings.
  EXPECT_EQ(H5Tget_class(file_type.id), H5T_STRING) << name;
  EXPECT_GT(H5Tis_variable_str(file_type.id), 0) << name;
  EXPECT_EQ(H5Tget_cset(file_type.id), H5T_CSET_UTF8) << name;
  H5Owned type(vlen_utf8());
  std::vector<char*> raw(length_of(d.id));
  if (!raw.empty() && H5Dread(d.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
    throw Error(cat("cannot read ", name));
  std::vector<std::string> values;
  for (char* s : raw) {
    values.emplace_back(s ? s : "");
    H5free_memory(s);
  }
  return values;
}

struct ReadRow {
  std::string group;
  int64_t index = 0, seed = 0;
  std::string prompt, negative_prompt, sampler, model, key, file;
  int steps = 0, width = 0, height = 0, clip_skip = 0;
  float guidance = 0;
  double render_s = 0;
  std::vector<uint8_t> rgb;
};

struct ReadArchive {
  std::map<std::string, std::string> attributes;
  std::vector<std::string> groups;
  std::map<int64_t, ReadRow> rows;  // by index; a duplicate index fails the read
};

// Reads every group's rows (length of `index`) with their images.
inline ReadArchive read_archive(const std::string& path, unsigned flags = H5F_ACC_RDONLY) {
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  H5Owned file(H5Fopen(path.c_str(), flags, fapl));
  H5Pclose(fapl);
  if (file.id < 0) throw Error(cat("cannot open ", path));
  ReadArchive out;
  for (const char* a : {"format", "farm_version", "model", "layout", "started", "ended"})
    out.attributes[a] = read_attribute(file.id, a);
  H5G_info_t info;
  H5Gget_info(file.id, &info);
  for (hsize_t g = 0; g < info.nlinks; ++g) {
    char name[64];
    H5Lget_name_by_idx(file.id, ".", H5_INDEX_NAME, H5_ITER_INC, g, name, sizeof name, H5P_DEFAULT);
    out.groups.push_back(name);
    H5Owned group(H5Gopen2(file.id, name, H5P_DEFAULT));
    const auto index = read_column<int64_t>(group.id, "index", H5T_NATIVE_INT64);
    const auto seed = read_column<int64_t>(group.id, "seed", H5T_NATIVE_INT64);
    const auto steps = read_column<int>(group.id, "steps", H5T_NATIVE_INT);
    const auto width = read_column<int>(group.id, "width", H5T_NATIVE_INT);
    const auto height = read_column<int>(group.id, "height", H5T_NATIVE_INT);
    const auto clip_skip = read_column<int>(group.id, "clip_skip", H5T_NATIVE_INT);
    const auto guidance = read_column<float>(group.id, "guidance", H5T_NATIVE_FLOAT);
    const auto render_s = read_column<double>(group.id, "render_s", H5T_NATIVE_DOUBLE);
    const auto prompt = read_string_column(group.id, "prompt");
    const auto negative = read_string_column(group.id, "negative_prompt");
    const auto sampler = read_string_column(group.id, "sampler");
    const auto model = read_string_column(group.id, "model");
    const auto key = read_string_column(group.id, "key");
    const auto file_name = read_string_column(group.id, "file");

    H5Owned images(H5Dopen2(group.id, "images", H5P_DEFAULT));
    H5Owned type(H5Dget_type(images.id));
    EXPECT_TRUE(H5Tequal(type.id, H5T_STD_U8LE) > 0) << name << "/images is not uint8";
    H5Owned space(H5Dget_space(images.id));
    hsize_t dims[4] = {};
    EXPECT_EQ(H5Sget_simple_extent_ndims(space.id), 4);
    H5Sget_simple_extent_dims(space.id, dims, nullptr);
    EXPECT_GE(dims[0], index.size()) << name;
    for (hsize_t r = 0; r < index.size(); ++r) {
      ReadRow row{name,         index[r], seed[r],  prompt[r], negative[r],  sampler[r],  model[r],    key[r],
                  file_name[r], steps[r], width[r], height[r], clip_skip[r], guidance[r], render_s[r], {}};
      row.rgb.resize(dims[1] * dims[2] * 3);
      const hsize_t start[4] = {r, 0, 0, 0}, count[4] = {1, dims[1], dims[2], 3};
      H5Owned file_space(H5Dget_space(images.id));
      H5Sselect_hyperslab(file_space.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
      H5Owned memory_space(H5Screate_simple(4, count, nullptr));
      if (H5Dread(images.id, H5T_NATIVE_UINT8, memory_space.id, file_space.id, H5P_DEFAULT, row.rgb.data()) < 0)
        throw Error(cat("cannot read image ", r, " of ", name));
      if (!out.rows.emplace(row.index, std::move(row)).second) throw Error(cat("index ", index[r], " twice"));
    }
  }
  return out;
}

// Every field of a row equals the record it was written from, and its pixels
// the image.
inline void expect_row(const ReadRow& row, const JournalRecord& r, const std::vector<uint8_t>& rgb) {
  EXPECT_EQ(row.group, cat(r.item.width, "x", r.item.height));
  EXPECT_EQ(row.index, r.index);
  EXPECT_EQ(row.seed, r.seed);
  EXPECT_EQ(row.prompt, r.item.prompt);
  EXPECT_EQ(row.negative_prompt, r.item.negative_prompt);
  EXPECT_EQ(row.sampler, r.item.sampler);
  EXPECT_EQ(row.model, r.model);
  EXPECT_EQ(row.key, r.key);
  EXPECT_EQ(row.file, r.file);
  EXPECT_EQ(row.steps, r.item.steps);
  EXPECT_EQ(row.width, r.item.width);
  EXPECT_EQ(row.height, r.item.height);
  EXPECT_EQ(row.clip_skip, r.item.clip_skip);
  EXPECT_EQ(row.guidance, r.item.guidance);  // exact: float stored as float32
  EXPECT_EQ(row.render_s, r.render_s);       // exact: double stored as float64
  EXPECT_TRUE(row.rgb == rgb) << "pixels of item " << r.index;
}

}  // namespace farm::testing
