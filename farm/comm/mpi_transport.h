// Host-buffer transport over MPI. Sends are MPI_Isend (the buffer lives in
// the transport until the request completes); receives are matched probes
// (MPI_Improbe, then a non-blocking MPI_Imrecv), so messages of any size
// arrive without a size handshake. A receive never blocks the rank: over
// TCP a message above the eager limit (64 KiB) moves only after the
// receiver's go-ahead has crossed the link, and a blocking receive would
// idle the stage for that round trip on every message; a started receive
// instead completes while the rank computes, and is handed out in the
// sender's order. Waiting polls with a short backoff sleep instead of MPI's
// busy progress loop: on an oversubscribed node an idle rank must not take
// a core from a computing one.
#pragma once

#include <deque>
#include <memory>

#include "farm/comm/transport.h"

namespace farm::comm {

// True when this process was started by mpirun/mpiexec or srun with an MPI
// plugin (the environment says so); fails with advice when srun started
// several tasks without one, since each would then think it is alone.
bool launched_by_mpi();

class MpiTransport final : public Transport {
 public:
  MpiTransport();  // MPI_Init unless already initialised
  ~MpiTransport() override;
  MpiTransport(const MpiTransport&) = delete;
  MpiTransport& operator=(const MpiTransport&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string host() const override { return host_; }
  void send(int dest, int tag, Bytes bytes) override;
  std::optional<Message> poll() override;
  Message wait() override;
  std::optional<Message> wait_for(double seconds) override;
  [[noreturn]] void abort_job(int code) override { abort(code); }
  bool sends_done() override;
  Bytes broadcast(Bytes bytes, int root) override;
  std::vector<Bytes> gather(Bytes bytes, int root) override;
  void drain() override;

  // Ranks on this node, for sharing its cores among them.
  int local_rank() const override { return local_rank_; }
  int local_ranks() const override { return local_ranks_; }
  // Stops every rank at once, for failures that leave no way to talk.
  [[noreturn]] void abort(int code);
  // drain()'s barrier, for code layered on this transport that must keep
  // receiving its own way meanwhile: the first call enters a
  // non-blocking barrier over all ranks, later calls test it; true once
  // every rank has entered it.
  bool barrier_step();

 private:
  struct Comm;  // this transport's duplicate of MPI_COMM_WORLD
  struct Pending;
  void reap_sends();
  void start_receives();
  std::optional<Message> take_received();

  std::unique_ptr<Comm> comm_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_ranks_ = 1;
  bool owns_mpi_ = false;
  bool blocking_receive_ = false;  // FARM_BLOCKING_RECEIVE (benchmarks): MPI_Mrecv, as before non-blocking receives
  std::string host_;
  std::deque<Message> self_;
  std::deque<std::unique_ptr<Pending>> pending_;
  struct Receiving;
  std::deque<std::unique_ptr<Receiving>> receiving_;  // started, in matching order
  std::unique_ptr<Pending> barrier_;  // entered, not yet complete
};

}  // namespace farm::comm
