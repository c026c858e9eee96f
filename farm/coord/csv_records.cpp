#include "farm/coord/csv_records.h"

#include "farm/core/error.h"

namespace farm {

std::vector<CsvRecord> read_csv_records(std::string_view content, const std::string& path) {
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  std::vector<CsvRecord> records;
  CsvRecord rec;
  std::string field;
  int line = 1;
  rec.line = 1;
  bool field_started = false;  // the current field has begun (a record of one empty quoted field is a record)
  size_t i = 0;
  const auto end_record = [&] {
    if (field_started || !rec.fields.empty()) {
      rec.fields.push_back(std::move(field));
      records.push_back(std::move(rec));
    }
    rec = CsvRecord{};
    field.clear();
    field_started = false;
  };
  while (i < content.size()) {
    const char c = content[i];
    if (c == '"' && field.empty() && !field_started) {  // a quoted field
      const int opened = line;
      field_started = true;
      for (++i;; ++i) {
        if (i >= content.size()) fail(path, ":", opened, ": a quoted field is never closed");
        if (content[i] == '"') {
          if (i + 1 < content.size() && content[i + 1] == '"') {
            field += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        if (content[i] == '\n') ++line;
        field += content[i];
      }
      if (i < content.size() && content[i] != ',' && content[i] != '\n' && content[i] != '\r')
        fail(path, ":", line, ": text after a closing quote (a quote inside a field is written \"\")");
      continue;
    }
    if (c == ',') {
      rec.fields.push_back(std::move(field));
      field.clear();
      field_started = false;  // the next field may open with a quote
      ++i;
      continue;
    }
    if (c == '\r' && (i + 1 == content.size() || content[i + 1] == '\n')) {
      ++i;
      continue;
    }
    if (c == '\n') {
      end_record();
      ++line;
      rec.line = line;
      ++i;
      continue;
    }
    field += c;
    field_started = true;
    ++i;
  }
  end_record();
  return records;
}

}  // namespace farm
