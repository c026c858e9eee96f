// CSV records as RFC 4180 writes them (and spreadsheets export them): fields
// separated by commas, a field in double quotes may hold commas, newlines and
// doubled quotes (""), records end at LF or CRLF, a leading UTF-8 BOM is
// dropped. Prompt lists exported from a sheet are CSV with a header row.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace farm {

struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;  // 1-based line the record starts on
};

// Every record, blank lines skipped. An unterminated quoted field, or text
// after a closing quote other than a comma or the record's end, fails
// naming `path` and the line.
std::vector<CsvRecord> read_csv_records(std::string_view content, const std::string& path);

}  // namespace farm
