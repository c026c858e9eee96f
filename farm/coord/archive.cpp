// The archive's writer: creating or reopening the file, SWMR, appending rows.
#include "farm/coord/archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "farm/coord/archive_layout.h"
#include "farm/core/error.h"

namespace farm {

using archive::AnyColumn;
using archive::rows_of;
using archive::set_rows;
using archive::table_columns;
using hdf5::check;
using hdf5::Id;
using hdf5::make;

namespace {

// The open datasets of one /WxH group.
struct SizeGroup {
  int width = 0, height = 0;
  Id images, index;
  std::vector<Id> columns;  // table_columns() order
  hsize_t rows = 0;
};

Id open_dataset(hid_t group, const char* name, const std::string& context) {
  return make(H5Dopen2(group, name, H5P_DEFAULT), context, cat("opening dataset ", name).c_str());
}

SizeGroup open_size_group(hid_t file, const std::string& name, const std::string& context) {
  SizeGroup g;
  if (!archive::parse_group_name(name, &g.width, &g.height))
    fail(context, ": /", name, " is not a size group (WIDTHxHEIGHT): not a farm archive's layout");
  const Id group = make(H5Gopen2(file, name.c_str(), H5P_DEFAULT), context, cat("opening group ", name).c_str());
  g.images = open_dataset(group.get(), "images", context);
  g.index = open_dataset(group.get(), "index", context);
  for (const AnyColumn& column : table_columns())
    g.columns.push_back(open_dataset(group.get(), std::visit([](const auto& c) { return c.name; }, column), context));
  g.rows = rows_of(g.index.get(), context);
  return g;
}

// A writer killed mid-row leaves datasets longer than `index` (their part of
// the row was written, the index not yet) and, if HDF5 had to evict metadata,
// an index row still at its fill value -1. Both are cut: the rows below are
// whole because each row is flushed before its index (archive.h). A dataset
// shorter than `index` cannot come from our writer, so the file is damaged.
void cut_unfinished_rows(SizeGroup& g, const std::string& name, const std::string& context) {
  hsize_t rows = g.rows;
  const std::vector<int64_t> index = archive::read_int64s(g.index.get(), rows, context);
  while (rows > 0 && index[rows - 1] == -1) --rows;
  std::vector<hid_t> datasets = {g.images.get(), g.index.get()};
  for (const Id& c : g.columns) datasets.push_back(c.get());
  for (hid_t d : datasets) {
    const hsize_t n = rows_of(d, context);
    if (n < rows) fail(context, ": group ", name, " is damaged: a dataset has ", n, " rows but index has ", rows);
    if (n > rows) set_rows(d, rows, context);
  }
  g.rows = rows;
}

// Writes element `row` of a 1-D column, growing it to row + 1.
template <class T>
void write_element(hid_t dataset, hsize_t row, const T& value, const std::string& context) {
  set_rows(dataset, row + 1, context);
  const Id file_space = make(H5Dget_space(dataset), context, "reading a column's shape");
  const hsize_t one = 1;
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &row, nullptr, &one, nullptr), context,
        "selecting a row");
  const Id memory_space = make(H5Screate_simple(1, &one, nullptr), context, "making a dataspace");
  const Id type = archive::memory_type<T>();
  if constexpr (std::is_same_v<T, std::string>) {
    const char* c = value.c_str();
    check(H5Dwrite(dataset, type.get(), memory_space.get(), file_space.get(), H5P_DEFAULT, &c), context,
          "writing a row");
  } else {
    check(H5Dwrite(dataset, type.get(), memory_space.get(), file_space.get(), H5P_DEFAULT, &value), context,
          "writing a row");
  }
}

void write_image(hid_t images, hsize_t row, int width, int height, const uint8_t* rgb, const std::string& context) {
  set_rows(images, row + 1, context);
  const Id file_space = make(H5Dget_space(images), context, "reading the images' shape");
  const hsize_t start[4] = {row, 0, 0, 0};
  const hsize_t count[4] = {1, static_cast<hsize_t>(height), static_cast<hsize_t>(width), 3};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), context,
        "selecting an image");
  const Id memory_space = make(H5Screate_simple(4, count, nullptr), context, "making a dataspace");
  check(H5Dwrite(images, H5T_NATIVE_UINT8, memory_space.get(), file_space.get(), H5P_DEFAULT, rgb), context,
        "writing an image");
}

void check_format(hid_t file, const std::string& context) {
  bool found = false;
  const std::string format = hdf5::read_string_attribute(file, "format", context, &found);
  if (!found) fail(context, ": not a farm archive (no \"format\" attribute at its root); choose another path");
  if (format != archive::kFormat)
    fail(context, ": its format is \"", format, "\" but this farm writes \"", archive::kFormat, "\"");
}

std::vector<std::pair<int, int>> unique_sizes(std::vector<std::pair<int, int>> sizes) {
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

// fsync through a descriptor of our own: HDF5's flush only writes.
void sync_file(const std::string& path, const std::string& context) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    fail(context, ": cannot sync ", path, ": ", why);
  }
  ::close(fd);
}

void set_job_attributes(hid_t file, const ArchiveJob& job, const std::string& context) {
  hdf5::set_string_attribute(file, "format", archive::kFormat, context);
  hdf5::set_string_attribute(file, "farm_version", job.farm_version, context);
  hdf5::set_string_attribute(file, "model", job.model, context);
  hdf5::set_string_attribute(file, "layout", job.layout, context);
  // started is the first run's: an extended archive keeps it.
  if (hdf5::read_string_attribute(file, "started", context).empty())
    hdf5::set_string_attribute(file, "started", job.started, context);
  hdf5::set_string_attribute(file, "ended", "", context);
}

}  // namespace

struct Archive::State {
  std::string path, context;
  Id file;  // declared before groups: closed after them
  std::vector<SizeGroup> groups;
  std::unordered_set<int64_t> indices;

  ~State() {
    groups.clear();
    file.reset();  // errors here have nowhere to go; finish() reports them
  }
};

Archive::Archive(std::unique_ptr<State> s) : s_(std::move(s)) {}
Archive::Archive(Archive&&) noexcept = default;
Archive& Archive::operator=(Archive&&) noexcept = default;
Archive::~Archive() = default;

Archive Archive::open(const std::string& path, const ArchiveJob& job) {
  const hdf5::QuietErrors quiet;
  auto s = std::make_unique<State>();
  s->path = path;
  s->context = cat("archive ", path);
  const std::string& context = s->context;
  const auto sizes = unique_sizes(job.sizes);
  for (const auto& [w, h] : sizes) FARM_ASSERT(w > 0 && h > 0, "archive size ", w, "x", h);

  archive::remove_stale_temporaries(path);
  if (!std::filesystem::exists(path)) {
    // Built under a temporary name and renamed: a crash while creating never
    // leaves a half-made file at `path` that the next run could not open.
    const std::string temp = archive::temporary_beside(path);
    try {
      const Id fapl = archive::latest_format_access(context);
      s->file = make(H5Fcreate(temp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), context, "cannot create it");
      set_job_attributes(s->file.get(), job, context);
      for (const auto& [w, h] : sizes) archive::create_size_group(s->file.get(), w, h, context);
      check(H5Fflush(s->file.get(), H5F_SCOPE_GLOBAL), context, "writing it");
      sync_file(temp, context);
      // SWMR before the rename: from the moment the file has its name, a
      // reader can open it, whether this writer lives or not.
      check(H5Fstart_swmr_write(s->file.get()), context, "cannot start SWMR writing");
      if (::rename(temp.c_str(), path.c_str()) != 0)
        fail(context, ": cannot rename ", temp, ": ", std::strerror(errno));
    } catch (...) {
      s->file.reset();
      ::unlink(temp.c_str());
      throw;
    }
  } else {
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(context, ": not an HDF5 file, so not a farm archive; choose another path");
    s->file = archive::open_for_writing(path, context);
    check_format(s->file.get(), context);
    set_job_attributes(s->file.get(), job, context);
    const auto names = archive::root_links(s->file.get(), context);
    for (const std::string& name : names) {
      SizeGroup g = open_size_group(s->file.get(), name, context);
      cut_unfinished_rows(g, name, context);
    }
    for (const auto& [w, h] : sizes)
      if (std::find(names.begin(), names.end(), archive::group_name(w, h)) == names.end())
        archive::create_size_group(s->file.get(), w, h, context);

    // From here on no group, dataset or attribute can be created, only
    // datasets grown and written.
    check(H5Fstart_swmr_write(s->file.get()), context, "cannot start SWMR writing");
  }
  for (const std::string& name : archive::root_links(s->file.get(), context)) {
    SizeGroup g = open_size_group(s->file.get(), name, context);
    for (int64_t i : archive::read_int64s(g.index.get(), g.rows, context)) s->indices.insert(i);
    s->groups.push_back(std::move(g));
  }
  return Archive(std::move(s));
}

bool Archive::contains(int64_t index) const { return s_->indices.count(index) > 0; }

size_t Archive::rows() const { return s_->indices.size(); }

const std::string& Archive::path() const { return s_->path; }

void Archive::add(const JournalRecord& rec, const uint8_t* rgb) {
  FARM_ASSERT(s_ && s_->file, "Archive::add after finish");
  FARM_ASSERT(rec.status == "done", "archiving item ", rec.index, " whose record is ", rec.status);
  FARM_ASSERT(!contains(rec.index), "item ", rec.index, " is already in ", s_->path);
  const int width = rec.item.width, height = rec.item.height;
  auto g = std::find_if(s_->groups.begin(), s_->groups.end(),
                        [&](const SizeGroup& x) { return x.width == width && x.height == height; });
  FARM_ASSERT(g != s_->groups.end(), "no ", width, "x", height, " group in ", s_->path,
              ": ArchiveJob::sizes must list every size before SWMR writing starts");
  const hdf5::QuietErrors quiet;
  const std::string& context = s_->context;
  const hsize_t row = g->rows;

  JournalRecord values = rec;  // the column accessors hand out references
  write_image(g->images.get(), row, width, height, rgb, context);
  const auto& columns = table_columns();
  for (size_t i = 0; i < columns.size(); ++i)
    std::visit([&](const auto& c) { write_element(g->columns[i].get(), row, c.of(values), context); }, columns[i]);
  // The row's data reaches the file before its index: a SWMR reader that
  // sees the index sees a whole row, and a crash leaves no index without it.
  check(H5Fflush(s_->file.get(), H5F_SCOPE_LOCAL), context, "writing a row");
  write_element<int64_t>(g->index.get(), row, rec.index, context);
  check(H5Fflush(s_->file.get(), H5F_SCOPE_LOCAL), context, "writing a row");
  g->rows = row + 1;
  s_->indices.insert(rec.index);
}

void Archive::finish(const std::string& ended) {
  FARM_ASSERT(s_ && s_->file, "Archive::finish twice");
  const hdf5::QuietErrors quiet;
  // An existing attribute may be rewritten in SWMR mode; ended was created
  // (empty) before SWMR writing started.
  hdf5::set_string_attribute(s_->file.get(), "ended", ended, s_->context);
  s_->groups.clear();
  check(H5Fclose(s_->file.release()), s_->context, "closing it");
}

}  // namespace farm
