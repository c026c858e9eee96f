#include "farm/coord/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "farm/core/error.h"

namespace farm {
namespace {

// Closes the descriptor and removes the temporary file unless released: every
// error path after the temporary is created leaves nothing behind.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  int close_fd() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  int fd_;
  bool committed_ = false;
};

std::string errno_text() { return std::strerror(errno); }

// Makes the rename itself durable; some filesystems refuse fsync on a
// directory (EINVAL), which is not a failure of the write.
void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::uint8_t* data, std::size_t size) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  // Hidden, and unique per process and call, so concurrent writers in one
  // directory (several ranks sharing an output folder) never collide.
  const std::string temp = (std::filesystem::path(dir) /
                            cat(".", target.filename().string(), ".tmp.", ::getpid(), ".", counter++))
                               .string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write ", path, ": creating ", temp, ": ", errno_text());
  TempFile file(temp, fd);

  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(file.fd(), data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write ", path, ": writing ", temp, ": ", errno_text());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(file.fd()) != 0) fail("cannot write ", path, ": fsync of ", temp, ": ", errno_text());
  if (file.close_fd() != 0) fail("cannot write ", path, ": closing ", temp, ": ", errno_text());
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    fail("cannot write ", path, ": renaming ", temp, " over it: ", errno_text());
  }
  file.commit();
  sync_directory(dir);
}

void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read ", path, ": ", errno_text());
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      fail("cannot read ", path, ": ", why);
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  ::close(fd);
  return bytes;
}

}  // namespace farm
