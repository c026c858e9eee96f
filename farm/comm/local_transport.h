// One rank, no MPI: messages to self go through a queue. `farm render`
// without mpirun runs the same ring and coordinator code over this.
#pragma once

#include <deque>

#include "farm/comm/transport.h"

namespace farm::comm {

class LocalTransport final : public Transport {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string host() const override;
  void send(int dest, int tag, Bytes bytes) override;
  std::optional<Message> poll() override;
  Message wait() override;
  std::optional<Message> wait_for(double) override { return wait(); }
  [[noreturn]] void abort_job(int code) override;
  bool sends_done() override { return true; }
  Bytes broadcast(Bytes bytes, int) override { return bytes; }
  std::vector<Bytes> gather(Bytes bytes, int) override;
  void drain() override { queue_.clear(); }

 private:
  std::deque<Message> queue_;
};

}  // namespace farm::comm
