// The job journal's reader (farm/coord/journal.cpp, parse_journal): any
// bytes, as a crash, a full disk or a hand edit can leave them. Besides
// farm::Error for a bad line that is not the last, a record it accepts must
// survive the writer: journal_line() of it reads back as the same line, or a
// rerun could not trust what it wrote itself.
#include <cmath>
#include <cstdint>
#include <string>

#include "farm/coord/journal.h"
#include "fuzz/fuzz_support.h"

namespace {

template <class Record>
void check_round_trip(const Record& record, const std::vector<Record>& (*pick)(const farm::JournalContents&)) {
  const std::string line = farm::journal_line(record);
  const farm::JournalContents again = farm::parse_journal(line + "\n", "round-trip");
  farm::fuzz::check(!again.torn_tail && pick(again).size() == 1, "a written record reads back as one record");
  farm::fuzz::check(farm::journal_line(pick(again).front()) == line, "a written record reads back unchanged");
}

const std::vector<farm::JournalRun>& runs(const farm::JournalContents& c) { return c.runs; }
const std::vector<farm::JournalRecord>& records(const farm::JournalContents& c) { return c.records; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  farm::fuzz::expect_farm_errors_only([&] {
    const farm::JournalContents c = farm::parse_journal(bytes, "out/journal.jsonl");
    for (const auto& [index, record] : c.latest()) farm::fuzz::check(record->index == index, "latest() by index");
    for (const farm::JournalRun& run : c.runs) check_round_trip(run, runs);
    // A guidance beyond float range reads as inf, which JSON cannot hold; the
    // coordinator writes only validated items, whose guidance is finite.
    for (const farm::JournalRecord& record : c.records)
      if (std::isfinite(record.item.guidance)) check_round_trip(record, records);
  });
  return 0;
}
