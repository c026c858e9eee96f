#include "farm/comm/mpi_weight_share.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <thread>
#include <vector>

#include "farm/core/error.h"

namespace farm::comm {
namespace {

class MpiGroupLink final : public GroupLink {
 public:
  MpiGroupLink(int stage, const std::string& host) {
    int world_rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_split(MPI_COMM_WORLD, stage, world_rank, &comm_);
    // A failed broadcast leaves the group out of step, with no orderly way
    // back: MPI ends the whole job instead of returning an error code.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    int reader = world_rank;
    MPI_Bcast(&reader, 1, MPI_INT, 0, comm_);
    std::vector<char> name(host.begin(), host.end());
    name.resize(MPI_MAX_PROCESSOR_NAME, '\0');
    MPI_Bcast(name.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, comm_);
    name.back() = '\0';
    reader_name_ = cat("rank ", reader, " (host ", name.data(), ")");
  }
  ~MpiGroupLink() override { MPI_Comm_free(&comm_); }
  MpiGroupLink(const MpiGroupLink&) = delete;
  MpiGroupLink& operator=(const MpiGroupLink&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string reader_name() const override { return reader_name_; }

  void broadcast(void* data, size_t n, bool idle) override {
    if (idle) {
      FARM_ASSERT(n <= INT_MAX, "an idle broadcast of ", n, " bytes");
      MPI_Request req;
      MPI_Ibcast(data, static_cast<int>(n), MPI_BYTE, 0, comm_, &req);
      wait_idle(req);
      return;
    }
    // MPI counts are ints: a tensor over 2 GiB goes in pieces.
    constexpr size_t kPiece = size_t{1} << 30;
    auto* p = static_cast<uint8_t*>(data);
    for (size_t at = 0; at < n; at += kPiece)
      MPI_Bcast(p + at, static_cast<int>(std::min(kPiece, n - at)), MPI_BYTE, 0, comm_);
  }

 private:
  // Tests the request, sleeping between tests once the wait has gone on for
  // a while: the followers wait while the reader reads from disk, and on an
  // oversubscribed node a spinning follower would take the reader's core.
  // A sleep is at most a tenth of the wait so far (and 1 ms), so it adds at
  // most about a tenth to any wait.
  static void wait_idle(MPI_Request& req) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      int done = 0;
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (done) return;
      const auto waited = std::chrono::steady_clock::now() - t0;
      if (waited > std::chrono::microseconds(200))
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(waited / 10,
                                                                                  std::chrono::milliseconds(1)));
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string reader_name_;
};

}  // namespace

std::unique_ptr<WeightShare> make_mpi_weight_share(int stage, const std::string& host) {
  int up = 0;
  MPI_Initialized(&up);
  FARM_ASSERT(up, "a stage group's weight share before MPI_Init");
  return std::make_unique<WeightShare>(std::make_unique<MpiGroupLink>(stage, host));
}

}  // namespace farm::comm
