// The archive's layout in one place (archive.h describes it for readers):
// the item table's columns and how each maps to a JournalRecord, the size
// groups and their datasets, and the reads the writer and sync_archive share.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "farm/coord/hdf5_id.h"
#include "farm/coord/journal.h"

namespace farm::archive {

inline constexpr const char* kFormat = "farm archive 1";  // root attribute "format"

// Deflate level of the images. Synthetic SD-like RGB (smooth colour fields,
// an edged textured object, Gaussian grain of sigma 0, 1 or 3 levels), six
// 512x512 images a level, best of 3, one image a chunk written and flushed
// as the archive does; shared 2-core Xeon, HDF5 1.10.8, zlib 1.2.13:
//   grain 0: level 1 375 KB 20 ms, level 4 331 KB 20 ms, level 6 327 KB 23 ms
//   grain 1: level 1 571 KB 25 ms, level 4 574 KB 29 ms, level 6 573 KB 31 ms
//   grain 3: level 1 644 KB 53 ms, level 4 651 KB 62 ms (noisy timings)
// (raw 768 KB; PNG level 1 of the same images: 185, 339, 456 KB, since
// PNG's row filters predict pixels and plain deflate does not). Higher levels
// gain nothing once an image has grain, which SD's decoder gives it, and cost
// the coordinator's thread time on every image, so level 1. 64x64 images
// take 0.3 ms at any level.
inline constexpr int kDeflateLevel = 1;

// Rows per chunk of the table's columns: small enough that rewriting the
// last chunk on each append is cheap, large enough that a 100k-item job has
// a few hundred chunks per column, not 100k.
inline constexpr hsize_t kColumnChunk = 256;

// A column of the item table: its dataset name and the JournalRecord field it
// holds. `index` is not among them: it is written last (see archive.h).
template <class T>
struct Column {
  using Value = T;
  const char* name;
  T& (*of)(JournalRecord&);
};
using AnyColumn = std::variant<Column<int64_t>, Column<int>, Column<float>, Column<double>, Column<std::string>>;

const std::vector<AnyColumn>& table_columns();

// The HDF5 types of a column: little-endian fixed sizes on disk, native in
// memory; strings are variable-length UTF-8 in both.
template <class T>
hdf5::Id column_type(bool in_file) {
  static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, int64_t> || std::is_same_v<T, int> ||
                std::is_same_v<T, float> || std::is_same_v<T, double>);
  if constexpr (std::is_same_v<T, std::string>)
    return hdf5::utf8_string_type();
  else if constexpr (std::is_same_v<T, int64_t>)
    return hdf5::Id(H5Tcopy(in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64));
  else if constexpr (std::is_same_v<T, int>)
    return hdf5::Id(H5Tcopy(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT));
  else if constexpr (std::is_same_v<T, float>)
    return hdf5::Id(H5Tcopy(in_file ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT));
  else
    return hdf5::Id(H5Tcopy(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE));
}
template <class T>
hdf5::Id file_type() {
  return column_type<T>(true);
}
template <class T>
hdf5::Id memory_type() {
  return column_type<T>(false);
}

// "512x768": width x height, as image sizes are usually written.
std::string group_name(int width, int height);
// false when `name` is not WIDTHxHEIGHT with positive sizes.
bool parse_group_name(const std::string& name, int* width, int* height);
// Names of the root's links, in name order.
std::vector<std::string> root_links(hid_t file, const std::string& context);

// Creates /WxH with images and every column (index included), all empty.
void create_size_group(hid_t file, int width, int height, const std::string& context);

// Length of a 1-D dataset, or the first dimension of images.
hsize_t rows_of(hid_t dataset, const std::string& context);
// Sets the first dimension, keeping the others.
void set_rows(hid_t dataset, hsize_t rows, const std::string& context);

// Rows [0, n) of a column.
std::vector<int64_t> read_int64s(hid_t dataset, hsize_t n, const std::string& context);
std::vector<int> read_ints(hid_t dataset, hsize_t n, const std::string& context);
std::vector<std::string> read_strings(hid_t dataset, hsize_t n, const std::string& context);

// A hidden name beside `path` (".NAME.tmp.PID.N"), unique per process and
// call, for a file that is renamed over `path` once whole.
std::string temporary_beside(const std::string& path);
// The part of those names common to every process.
std::string temporary_prefix(const std::string& path);
// Removes the temporaries a writer that died left beside `path`.
void remove_stale_temporaries(const std::string& path);

// File access with the latest format: SWMR needs it.
hdf5::Id latest_format_access(const std::string& context);

// Opens `path` read-write (not yet SWMR), repairing what a writer that died
// leaves behind: HDF5's "open for writing" mark and a stale end of allocation.
hdf5::Id open_for_writing(const std::string& path, const std::string& context);

}  // namespace farm::archive
