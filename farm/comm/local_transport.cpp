#include "farm/comm/local_transport.h"

#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "farm/core/error.h"

namespace farm::comm {

std::string LocalTransport::host() const {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

void LocalTransport::send(int dest, int tag, Bytes bytes) {
  FARM_ASSERT(dest == 0, "send to rank ", dest, " in a one-rank job");
  traffic_.messages_sent++;
  traffic_.bytes_sent += bytes.size();
  queue_.push_back({0, tag, std::move(bytes)});
}

std::optional<Message> LocalTransport::poll() {
  if (queue_.empty()) return std::nullopt;
  Message m = std::move(queue_.front());
  queue_.pop_front();
  traffic_.messages_received++;
  traffic_.bytes_received += m.bytes.size();
  return m;
}

Message LocalTransport::wait() {
  auto m = poll();
  // One rank waiting for a message nobody will send is a protocol bug, not a hang.
  FARM_ASSERT(m.has_value(), "one-rank job waits for a message that cannot come");
  return std::move(*m);
}

void LocalTransport::abort_job(int code) {
  std::fflush(stderr);
  std::_Exit(code);
}

std::vector<Bytes> LocalTransport::gather(Bytes bytes, int) {
  std::vector<Bytes> all;
  all.push_back(std::move(bytes));
  return all;
}

}  // namespace farm::comm
