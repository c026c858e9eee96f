#include "farm/coord/archive_layout.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <filesystem>

#include "farm/core/error.h"

namespace farm::archive {

using hdf5::check;
using hdf5::Id;
using hdf5::make;

const std::vector<AnyColumn>& table_columns() {
  // clang-format off
  static const std::vector<AnyColumn> columns = {
    Column<std::string>{"prompt",          [](JournalRecord& r) -> std::string& { return r.item.prompt; }},
    Column<std::string>{"negative_prompt", [](JournalRecord& r) -> std::string& { return r.item.negative_prompt; }},
    Column<int64_t>    {"seed",            [](JournalRecord& r) -> int64_t& { return r.seed; }},
    Column<int>        {"steps",           [](JournalRecord& r) -> int& { return r.item.steps; }},
    Column<float>      {"guidance",        [](JournalRecord& r) -> float& { return r.item.guidance; }},
    Column<std::string>{"sampler",         [](JournalRecord& r) -> std::string& { return r.item.sampler; }},
    Column<int>        {"width",           [](JournalRecord& r) -> int& { return r.item.width; }},
    Column<int>        {"height",          [](JournalRecord& r) -> int& { return r.item.height; }},
    Column<int>        {"clip_skip",       [](JournalRecord& r) -> int& { return r.item.clip_skip; }},
    Column<std::string>{"model",           [](JournalRecord& r) -> std::string& { return r.model; }},
    Column<std::string>{"key",             [](JournalRecord& r) -> std::string& { return r.key; }},
    Column<std::string>{"file",            [](JournalRecord& r) -> std::string& { return r.file; }},
    Column<double>     {"render_s",        [](JournalRecord& r) -> double& { return r.render_s; }},
  };
  // clang-format on
  return columns;
}

std::string group_name(int width, int height) { return cat(width, "x", height); }

bool parse_group_name(const std::string& name, int* width, int* height) {
  const auto x = name.find('x');
  if (x == std::string::npos) return false;
  const char* end = name.data() + name.size();
  const auto w = std::from_chars(name.data(), name.data() + x, *width);
  const auto h = std::from_chars(name.data() + x + 1, end, *height);
  return w.ec == std::errc() && w.ptr == name.data() + x && h.ec == std::errc() && h.ptr == end && *width > 0 &&
         *height > 0;
}

std::vector<std::string> root_links(hid_t file, const std::string& context) {
  H5G_info_t info;
  check(H5Gget_info(file, &info), context, "listing the root group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = check(H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT),
                            context, "listing the root group");
    std::string name(static_cast<size_t>(n), '\0');
    check(H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT),
          context, "listing the root group");
    names.push_back(std::move(name));
  }
  return names;
}

namespace {

// An empty 1-D column that grows by appending.
template <class T>
void create_column(hid_t group, const char* name, const std::string& context, const T* fill = nullptr) {
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  const Id space = make(H5Screate_simple(1, &zero, &unlimited), context, "making a dataspace");
  const Id dcpl = make(H5Pcreate(H5P_DATASET_CREATE), context, "making a dataset property list");
  check(H5Pset_chunk(dcpl.get(), 1, &kColumnChunk), context, "setting a column's chunk");
  if (fill) check(H5Pset_fill_value(dcpl.get(), memory_type<T>().get(), fill), context, "setting a fill value");
  make(H5Dcreate2(group, name, file_type<T>().get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), context,
       cat("creating ", name).c_str());
}

}  // namespace

void create_size_group(hid_t file, int width, int height, const std::string& context) {
  const std::string name = group_name(width, height);
  const Id group = make(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), context,
                        cat("creating group ", name).c_str());
  const hsize_t h = static_cast<hsize_t>(height), w = static_cast<hsize_t>(width);
  const hsize_t dims[4] = {0, h, w, 3}, max_dims[4] = {H5S_UNLIMITED, h, w, 3}, chunk[4] = {1, h, w, 3};
  const Id space = make(H5Screate_simple(4, dims, max_dims), context, "making a dataspace");
  const Id dcpl = make(H5Pcreate(H5P_DATASET_CREATE), context, "making a dataset property list");
  check(H5Pset_chunk(dcpl.get(), 4, chunk), context, "setting the images' chunk");
  check(H5Pset_deflate(dcpl.get(), kDeflateLevel), context, "setting the images' compression");
  // Every chunk is written whole, so filling it first would be wasted work.
  check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), context, "setting the images' fill time");
  make(H5Dcreate2(group.get(), "images", H5T_STD_U8LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), context,
       "creating images");

  // -1: a row whose index was not written yet (see archive.h).
  const int64_t no_index = -1;
  create_column<int64_t>(group.get(), "index", context, &no_index);
  for (const AnyColumn& column : table_columns())
    std::visit(
        [&](const auto& c) { create_column<typename std::decay_t<decltype(c)>::Value>(group.get(), c.name, context); },
        column);
}

hsize_t rows_of(hid_t dataset, const std::string& context) {
  const Id space = make(H5Dget_space(dataset), context, "reading a dataset's shape");
  hsize_t dims[4] = {0, 0, 0, 0};
  const int rank = check(H5Sget_simple_extent_ndims(space.get()), context, "reading a dataset's shape");
  FARM_ASSERT(rank >= 1 && rank <= 4, "archive dataset of rank ", rank);
  check(H5Sget_simple_extent_dims(space.get(), dims, nullptr), context, "reading a dataset's shape");
  return dims[0];
}

void set_rows(hid_t dataset, hsize_t rows, const std::string& context) {
  const Id space = make(H5Dget_space(dataset), context, "reading a dataset's shape");
  hsize_t dims[4] = {0, 0, 0, 0};
  check(H5Sget_simple_extent_dims(space.get(), dims, nullptr), context, "reading a dataset's shape");
  dims[0] = rows;
  check(H5Dset_extent(dataset, dims), context, "resizing a dataset");
}

namespace {

template <class T>
std::vector<T> read_numbers(hid_t dataset, hsize_t n, const std::string& context) {
  std::vector<T> values(n);
  if (n == 0) return values;
  const Id file_space = make(H5Dget_space(dataset), context, "reading a column");
  const hsize_t start = 0;
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), context, "selecting rows");
  const Id memory_space = make(H5Screate_simple(1, &n, nullptr), context, "making a dataspace");
  check(H5Dread(dataset, memory_type<T>().get(), memory_space.get(), file_space.get(), H5P_DEFAULT, values.data()),
        context, "reading a column");
  return values;
}

}  // namespace

std::vector<int64_t> read_int64s(hid_t dataset, hsize_t n, const std::string& context) {
  return read_numbers<int64_t>(dataset, n, context);
}

std::vector<int> read_ints(hid_t dataset, hsize_t n, const std::string& context) {
  return read_numbers<int>(dataset, n, context);
}

std::vector<std::string> read_strings(hid_t dataset, hsize_t n, const std::string& context) {
  std::vector<std::string> values;
  if (n == 0) return values;
  const Id type = hdf5::utf8_string_type();
  const Id file_space = make(H5Dget_space(dataset), context, "reading a column");
  const hsize_t start = 0;
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), context, "selecting rows");
  const Id memory_space = make(H5Screate_simple(1, &n, nullptr), context, "making a dataspace");
  std::vector<char*> raw(n, nullptr);
  check(H5Dread(dataset, type.get(), memory_space.get(), file_space.get(), H5P_DEFAULT, raw.data()), context,
        "reading a column");
  values.reserve(n);
  for (char* s : raw) values.emplace_back(s ? s : "");
    // The library allocated each string; it frees them the same way.
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type.get(), memory_space.get(), H5P_DEFAULT, raw.data());
#else
  H5Dvlen_reclaim(type.get(), memory_space.get(), H5P_DEFAULT, raw.data());
#endif
  return values;
}

std::string temporary_prefix(const std::string& path) {
  // Appended piecewise: `"." + string` trips GCC 12's -Wrestrict false positive at -O3.
  std::string prefix = ".";
  prefix += std::filesystem::path(path).filename().string();
  prefix += ".tmp.";
  return prefix;
}

std::string temporary_beside(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path p(path);
  return (p.parent_path() / cat(temporary_prefix(path), ::getpid(), ".", counter++)).string();
}

// Leftovers of a writer that died while building a file beside `path`. Only
// the one writer of this archive makes them (the job's journal lock), so
// none of them belongs to a live process.
void remove_stale_temporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  const std::string prefix = archive::temporary_prefix(path);
  std::error_code ec;
  // "." + prefix: the temporary a rebuild's own temporary was created under.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 || name.rfind("." + prefix, 0) == 0) std::filesystem::remove(entry.path(), ec);
  }
}

Id latest_format_access(const std::string& context) {
  Id fapl = make(H5Pcreate(H5P_FILE_ACCESS), context, "making a file access property list");
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), context,
        "asking for the latest file format");
  return fapl;
}

// A file whose writer died still carries HDF5's "open for writing" mark, and
// HDF5 refuses to open it (h5clear -s is the tool's answer); the file access
// property h5clear sets does the same here. The superblock's end of
// allocation may also lag behind metadata the writer flushed (SWMR readers
// read past it, a writer does not), so it is moved to the end of the file,
// as h5clear -i does. Both are safe only because nothing else writes the
// archive: its writer is the job holding the journal's lock, and
// `farm archive` refuses a folder whose journal is locked.
Id open_for_writing(const std::string& path, const std::string& context) {
  const Id fapl = latest_format_access(context);
  if (hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()); f >= 0) return Id(f);
  const std::string first_error = hdf5::error_text();
  hbool_t clear = true;
  if (H5Pexist(fapl.get(), "clear_status_flags") > 0 && H5Pset(fapl.get(), "clear_status_flags", &clear) >= 0) {
    if (hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()); f >= 0) {
      Id file(f);
      check(H5Fincrement_filesize(file.get(), 0), context, "repairing the end of allocation its writer left");
      return file;
    }
  }
  H5Eclear2(H5E_DEFAULT);
  fail(context, ": cannot open it to write: ", first_error);
}

}  // namespace farm::archive
