// Transport: how ranks exchange messages (ARCHITECTURE.md, farm/comm). A
// message is a tag and a byte buffer; sends never block the caller (the
// buffer is owned by the transport until delivered), so a stage's transfer
// overlaps its next compute. Receives are polled by one event loop per rank.
// Messages between one pair of ranks arrive in the order they were sent.
//
// Implementations: LocalTransport (one rank, loopback), MpiTransport (host
// buffers over MPI: control and, on CPU ranks, tensors). Device tensors go
// GPU to GPU over a backend's TensorLink (kernels/tensor_link.h, NCCL).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace farm::comm {

using Bytes = std::vector<uint8_t>;

struct Message {
  int source = -1;
  int tag = 0;
  Bytes bytes;
};

// Traffic counters, for benchmarks and `farm render`'s summary.
struct TrafficStats {
  uint64_t messages_sent = 0, bytes_sent = 0;
  uint64_t messages_received = 0, bytes_received = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string host() const = 0;  // this rank's host name, for messages naming a failed rank
  // This rank's index among the ranks on its node, and how many there are
  // (each rank of a node takes its own GPU by this index).
  virtual int local_rank() const { return 0; }
  virtual int local_ranks() const { return 1; }

  // Queues `bytes` for `dest` (which may be this rank) and returns at once.
  virtual void send(int dest, int tag, Bytes bytes) = 0;
  // The next message for this rank, if one has arrived.
  virtual std::optional<Message> poll() = 0;
  // Blocks until a message arrives. Idles without spinning a core, so
  // oversubscribed ranks leave the CPU to the ones computing.
  virtual Message wait() = 0;
  // The same, giving up after `seconds`: a rank that waits still beats its
  // heartbeat and sees signals.
  virtual std::optional<Message> wait_for(double seconds) = 0;
  // Ends every rank of the job at once, from any thread: for a stalled job,
  // where an orderly end would wait on the rank that hangs.
  [[noreturn]] virtual void abort_job(int code) = 0;
  // True when every send of this rank has been handed over.
  virtual bool sends_done() = 0;

  // Collectives over all ranks, for start-up and shutdown only.
  virtual Bytes broadcast(Bytes bytes, int root) = 0;
  virtual std::vector<Bytes> gather(Bytes bytes, int root) = 0;  // filled at root only
  // Ends the message phase: keeps receiving (and dropping) messages until
  // every rank has called it and all sends have completed, so no rank is
  // left blocked on a peer that stopped listening.
  virtual void drain() = 0;

  const TrafficStats& traffic() const { return traffic_; }

 protected:
  TrafficStats traffic_;
};

}  // namespace farm::comm
