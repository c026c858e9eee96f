#include "farm/coord/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "farm/coord/job_item_json.h"
#include "farm/core/error.h"

namespace farm {

std::map<int64_t, const JournalRecord*> JournalContents::latest() const {
  std::map<int64_t, const JournalRecord*> out;
  for (const auto& r : records) out[r.index] = &r;
  return out;
}

std::string journal_line(const JournalRun& run) {
  return nlohmann::json{{"run", run.run},
                        {"job_seed", run.job_seed},
                        {"farm", run.farm_version},
                        {"model", run.model},
                        {"layout", run.layout},
                        {"started", run.started}}
      .dump();
}

std::string journal_line(const JournalRecord& r) {
  nlohmann::json j = {{"index", r.index}, {"status", r.status}, {"key", r.key},     {"seed", r.seed},
                      {"rank", r.rank},   {"render_s", r.render_s}, {"model", r.model}};
  if (r.status == "done") j.update({{"file", r.file}, {"sha256", r.sha256}});
  else j["reason"] = r.reason;
  j["item"] = nlohmann::json::parse(job_item_to_json(r.item));
  return j.dump();
}

namespace {

bool is_hex_digest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// One line's record; throws (any exception) when the line is not one.
void parse_line(const std::string& line, JournalContents& out) {
  const auto j = nlohmann::json::parse(line);
  if (!j.is_object()) throw std::runtime_error("not a JSON object");
  if (j.contains("run")) {
    JournalRun r;
    r.run = json_integer(j, "run");
    // A float here would convert with undefined behaviour, as in json_integer().
    if (!j.at("job_seed").is_number_unsigned()) throw std::runtime_error("'job_seed' is not an integer in 0..2^64-1");
    r.job_seed = j.at("job_seed").get<uint64_t>();
    r.farm_version = j.at("farm").get<std::string>();
    r.model = j.at("model").get<std::string>();
    r.layout = j.value("layout", "");
    r.started = j.at("started").get<std::string>();
    out.runs.push_back(std::move(r));
    return;
  }
  JournalRecord r;
  r.index = json_integer(j, "index");
  r.status = j.at("status").get<std::string>();
  r.key = j.at("key").get<std::string>();
  r.seed = json_integer(j, "seed");
  r.rank = static_cast<int>(json_integer(j, "rank", INT_MIN, INT_MAX));
  r.render_s = j.at("render_s").get<double>();
  r.model = j.at("model").get<std::string>();
  if (r.index < 0) throw std::runtime_error("negative index");
  if (!is_hex_digest(r.key)) throw std::runtime_error("'key' is not a sha256 hex digest");
  if (r.status == "done") {
    r.file = j.at("file").get<std::string>();
    r.sha256 = j.at("sha256").get<std::string>();
    if (!is_hex_digest(r.sha256)) throw std::runtime_error("'sha256' is not a sha256 hex digest");
    // A record must never lead a reader outside the output folder.
    if (r.file.empty() || r.file.front() == '/' || r.file.find("..") != std::string::npos)
      throw std::runtime_error("'file' is not a name inside the output folder");
  } else if (r.status == "failed") {
    r.reason = j.at("reason").get<std::string>();
  } else {
    throw std::runtime_error("'status' is neither \"done\" nor \"failed\"");
  }
  r.item = job_item_from_json(j.at("item").dump());
  if (r.item.index != r.index) throw std::runtime_error("'item.index' differs from 'index'");
  out.records.push_back(std::move(r));
}

}  // namespace

JournalContents parse_journal(const std::string& bytes, const std::string& name) {
  JournalContents out;
  size_t begin = 0;
  int line_no = 0;
  while (begin < bytes.size()) {
    ++line_no;
    const size_t nl = bytes.find('\n', begin);
    const bool last = nl == std::string::npos || nl + 1 == bytes.size();
    const std::string line = bytes.substr(begin, nl == std::string::npos ? std::string::npos : nl - begin);
    begin = nl == std::string::npos ? bytes.size() : nl + 1;
    // Without its newline the last line is torn, whatever it holds: the
    // newline is written in the same append, so a whole record has one.
    if (nl == std::string::npos) {
      out.torn_tail = true;
      break;
    }
    if (line.empty()) continue;
    try {
      parse_line(line, out);
    } catch (const std::exception& e) {
      if (last) {  // a crash mid-write can leave garbage that ends in a newline only at the tail
        out.torn_tail = true;
        break;
      }
      fail(name, ":", line_no, ": not a journal record (", e.what(),
           "); the journal is written by farm alone: restore it or move the folder aside");
    }
  }
  return out;
}

JournalContents read_journal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return {};
    fail(path, ": cannot read the journal: ", std::strerror(errno));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return parse_journal(s.str(), path);
}

Journal::Journal(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path_, ": cannot open the journal for appending: ", std::strerror(errno));
  // Cut a torn tail so the next record starts on a line of its own.
  const off_t size = ::lseek(fd_, 0, SEEK_END);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size > 0 && ::pread(fd_, bytes.data(), bytes.size(), 0) != size)
    fail(path_, ": cannot read the journal: ", std::strerror(errno));
  const JournalContents c = parse_journal(bytes, path_);
  if (c.torn_tail) {
    const size_t keep = bytes.rfind('\n', bytes.size() - (bytes.back() == '\n' ? 2 : 1));
    const off_t cut = keep == std::string::npos ? 0 : static_cast<off_t>(keep + 1);
    if (::ftruncate(fd_, cut) != 0 || ::fsync(fd_) != 0)
      fail(path_, ": cannot cut the torn last record: ", std::strerror(errno));
  }
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const std::string& line) {
  FARM_ASSERT(line.find('\n') == std::string::npos, "journal line with a newline");
  const std::string bytes = line + '\n';
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path_, ": cannot append to the journal: ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) fail(path_, ": cannot sync the journal: ", std::strerror(errno));
}

}  // namespace farm
