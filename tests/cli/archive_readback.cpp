// archive_readback OUT_DIR FILE.h5: reads a job's archive with the HDF5 C API
// alone (archive_test_support.h, not farm's writer) and checks it against the
// folder: one row per "done" item of the journal, no other row, each row's
// pixels equal to its PNG's (decoded) and its fields equal to the journal's.
// Exit 0 when all match; 1 naming the first mismatch. Driven by
// tests/distributed/archive_job_test.sh on an archive a 4-rank job wrote.
#include <cstdio>

#include "farm/coord/image_metadata.h"
#include "tests/cli/archive_test_support.h"

int main(int argc, char** argv) {
  using namespace farm;
  if (argc != 3) {
    std::fprintf(stderr, "usage: archive_readback OUT_DIR FILE.h5\n");
    return 2;
  }
  const std::string out = argv[1];
  try {
    const farm::testing::ReadArchive a = farm::testing::read_archive(argv[2]);
    const JournalContents j = read_journal(out + "/journal.jsonl");
    size_t done = 0;
    for (const auto& [index, rec] : j.latest()) {
      if (rec->status != "done") continue;
      ++done;
      const auto row = a.rows.find(index);
      if (row == a.rows.end()) fail("item ", index, " is done but has no row");
      const farm::testing::ReadRow& r = row->second;
      const DecodedPng png = decode_png_file(out + "/" + rec->file);
      if (r.rgb != png.rgb) fail("item ", index, ": the archive's pixels differ from ", rec->file);
      const JobItem& it = rec->item;
      if (r.prompt != it.prompt || r.negative_prompt != it.negative_prompt || r.seed != it.seed ||
          r.steps != it.steps || r.guidance != it.guidance || r.width != it.width || r.height != it.height ||
          r.sampler != it.sampler || r.clip_skip != it.clip_skip || r.key != rec->key || r.file != rec->file ||
          r.model != rec->model)
        fail("item ", index, ": the archive's table row differs from its journal record");
      if (r.group != cat(it.width, "x", it.height)) fail("item ", index, " is in group ", r.group);
    }
    if (a.rows.size() != done) fail(a.rows.size(), " rows for ", done, " done items");
    if (a.attributes.at("format").rfind("farm archive", 0) != 0) fail("no farm archive format attribute");
    std::printf("archive_readback: %zu rows in %zu groups match the PNGs and the journal (layout %s, ended %s)\n",
                a.rows.size(), a.groups.size(), a.attributes.at("layout").c_str(), a.attributes.at("ended").c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "archive_readback: FAIL: %s\n", e.what());
    return 1;
  }
}
