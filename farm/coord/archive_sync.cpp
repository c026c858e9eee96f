// Reading an archive back for the journal check, and bringing it in line
// with the journal (extend, or rebuild when it cannot be trusted).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "farm/coord/archive.h"
#include "farm/coord/archive_layout.h"
#include "farm/coord/atomic_file.h"
#include "farm/coord/png.h"
#include "farm/coord/sha256.h"
#include "farm/core/error.h"

namespace fs = std::filesystem;

namespace farm {

using hdf5::Id;
using hdf5::make;

namespace {

// Opens for reading. SWMR_READ first: it is the one mode that opens a file
// while its writer runs, or after the writer died in SWMR mode. A plain open
// next, for HDF5 files in an older format (then not ours: the format check
// says so). A file neither opens is marked open for writing by a writer that
// died outside SWMR mode (between opening an archive and starting SWMR
// writing): it is repaired as the writer would, then read.
Id open_for_reading(const std::string& path, const std::string& context) {
  const Id fapl = archive::latest_format_access(context);
  for (int attempt = 0;; ++attempt) {
    if (hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()); f >= 0) return Id(f);
    const std::string swmr_error = hdf5::error_text();
    if (hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); f >= 0) return Id(f);
    H5Eclear2(H5E_DEFAULT);
    if (attempt == 1) fail(context, ": cannot be opened as HDF5 (", swmr_error, "); delete it or choose another path");
    archive::open_for_writing(path, context);  // closed at once
  }
}

// The whole rows of one group. Throws Error (caught as damage) when the
// group's datasets disagree in a way our writer never leaves them.
void list_group(hid_t file, const std::string& name, const std::string& context, std::vector<ArchiveRow>& out) {
  int width = 0, height = 0;
  if (!archive::parse_group_name(name, &width, &height)) fail("/", name, " is not a size group (WIDTHxHEIGHT)");
  const Id group = make(H5Gopen2(file, name.c_str(), H5P_DEFAULT), context, "opening a group");
  const Id index = make(H5Dopen2(group.get(), "index", H5P_DEFAULT), context, "opening index");
  hsize_t rows = archive::rows_of(index.get(), context);
  const std::vector<int64_t> indices = archive::read_int64s(index.get(), rows, context);
  while (rows > 0 && indices[rows - 1] == -1) --rows;  // a row being written (archive.h)

  std::vector<const char*> names = {"images"};
  for (const archive::AnyColumn& column : archive::table_columns())
    names.push_back(std::visit([](const auto& c) { return c.name; }, column));
  for (const char* dataset : names) {
    const Id d = make(H5Dopen2(group.get(), dataset, H5P_DEFAULT), context, cat("opening ", dataset).c_str());
    if (archive::rows_of(d.get(), context) < rows)
      fail("/", name, "/", dataset, " has fewer rows than /", name, "/index");
  }
  const Id key = make(H5Dopen2(group.get(), "key", H5P_DEFAULT), context, "opening key");
  const std::vector<std::string> keys = archive::read_strings(key.get(), rows, context);
  for (hsize_t i = 0; i < rows; ++i) {
    if (indices[i] < 0) fail("/", name, "/index row ", i, " is ", indices[i]);
    out.push_back({indices[i], keys[i], width, height});
  }
}

// An item's pixels from its PNG, checked against what the journal recorded.
std::vector<uint8_t> load_done_png(const std::string& out_dir, const JournalRecord& rec) {
  const std::string path = (fs::path(out_dir) / rec.file).string();
  if (!fs::exists(path))
    fail(path, ": missing, but the journal has item ", rec.index, " as done in this file");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::string sha = sha256_hex(bytes.data(), bytes.size());
  if (sha != rec.sha256)
    fail(path, ": its sha256 is ", sha, " but the journal recorded ", rec.sha256, " for item ", rec.index,
         ": the file changed after farm wrote it");
  DecodedPng png = decode_png(bytes, path);
  if (png.width != rec.item.width || png.height != rec.item.height)
    fail(path, ": ", png.width, "x", png.height, " but item ", rec.index, " is ", rec.item.width, "x", rec.item.height);
  return std::move(png.rgb);
}

// The reason the archive cannot be extended as it is, or "".
std::string distrust(const ArchiveListing& listing, const std::map<int64_t, const JournalRecord*>& done,
                     const std::set<int64_t>& rerender) {
  if (!listing.damage.empty()) return listing.damage;
  std::set<int64_t> seen;
  for (const ArchiveRow& row : listing.rows) {
    if (!seen.insert(row.index).second) return cat("item ", row.index, " has two rows");
    const auto it = done.find(row.index);
    if (it == done.end()) return cat("item ", row.index, " has a row but the journal does not have it as done");
    const JournalRecord& rec = *it->second;
    if (rec.key != row.key) return cat("item ", row.index, "'s row has another key than its journal record");
    if (rec.item.width != row.width || rec.item.height != row.height)
      return cat("item ", row.index, "'s row is in the ", row.width, "x", row.height, " group but its record is ",
                 rec.item.width, "x", rec.item.height);
    if (rerender.count(row.index)) return cat("item ", row.index, " is to be rendered again");
  }
  return "";
}

}  // namespace

ArchiveListing list_archive(const std::string& path) {
  const hdf5::QuietErrors quiet;
  const std::string context = cat("archive ", path);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail(context, ": cannot read it: ", ec.message());
  // A file our writer created is never empty (it appears by rename); an
  // empty one can hold no one's data, so it is damage, not someone's file.
  if (size == 0) return {{}, "the file is empty"};
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(context, ": not an HDF5 file, so not a farm archive; choose another path");
  const Id file = open_for_reading(path, context);
  bool found = false;
  const std::string format = hdf5::read_string_attribute(file.get(), "format", context, &found);
  if (!found || format.rfind("farm archive", 0) != 0)
    fail(context, ": not a farm archive (no \"format\" attribute at its root); choose another path");

  ArchiveListing listing;
  if (format != archive::kFormat) {
    listing.damage = cat("its format is \"", format, "\", not \"", archive::kFormat, "\"");
    return listing;
  }
  try {
    for (const std::string& name : archive::root_links(file.get(), context))
      list_group(file.get(), name, context, listing.rows);
  } catch (const Error& e) {
    listing.rows.clear();
    listing.damage = e.what();
  }
  return listing;
}

ArchiveSync sync_archive(const std::string& archive_path, const std::string& out_dir, const JournalContents& journal,
                         const ArchiveJob& job, const std::set<int64_t>& rerender) {
  std::map<int64_t, const JournalRecord*> done;
  for (const auto& [index, rec] : journal.latest())
    if (rec->status == "done") done.emplace(index, rec);
  ArchiveJob all_sizes = job;
  for (const auto& [index, rec] : done) all_sizes.sizes.emplace_back(rec->item.width, rec->item.height);

  archive::remove_stale_temporaries(archive_path);
  std::string why_rebuild;
  if (fs::exists(archive_path)) why_rebuild = distrust(list_archive(archive_path), done, rerender);

  auto append_missing = [&](Archive& archive) {
    size_t added = 0;
    for (const auto& [index, rec] : done) {
      if (archive.contains(index) || rerender.count(index)) continue;
      const std::vector<uint8_t> rgb = load_done_png(out_dir, *rec);
      archive.add(*rec, rgb.data());
      ++added;
    }
    return added;
  };

  if (why_rebuild.empty()) {
    // Extending in place: a crash part-way leaves an archive the next sync
    // extends further.
    Archive archive = Archive::open(archive_path, all_sizes);
    return {append_missing(archive), ""};
  }
  // Rebuilt under a temporary name: until the rename the old file stays, so
  // a crash loses nothing that was there.
  const std::string temp = archive::temporary_beside(archive_path);
  try {
    size_t added = 0;
    {
      Archive archive = Archive::open(temp, all_sizes);
      added = append_missing(archive);
    }  // closed (and flushed) before it takes the archive's name
    if (::rename(temp.c_str(), archive_path.c_str()) != 0)
      fail("archive ", archive_path, ": cannot rename ", temp, " over it: ", std::strerror(errno));
    return {added, why_rebuild};
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

}  // namespace farm
