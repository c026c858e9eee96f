#include "farm/comm/mpi_transport.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>

#include "farm/core/error.h"

namespace farm::comm {

namespace {

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("MPI: ", what, " failed: ", text);
}

}  // namespace

bool launched_by_mpi() {
  // Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), MPICH/Hydra and PMI-1/2.
  if (env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") || env_set("PMI_SIZE"))
    return true;
  if (const char* n = std::getenv("SLURM_NTASKS"); n && std::atoi(n) > 1 && env_set("SLURM_PROCID"))
    fail("started by srun with SLURM_NTASKS=", n,
         " but no MPI environment: run `srun --mpi=pmix farm ...` (see `srun --mpi=list`), or mpirun");
  return false;
}

struct MpiTransport::Comm {
  MPI_Comm comm;
};

struct MpiTransport::Pending {
  Bytes bytes;
  MPI_Request request = MPI_REQUEST_NULL;
};

struct MpiTransport::Receiving {
  Message message;
  MPI_Request request = MPI_REQUEST_NULL;
  bool done = false;
};

MpiTransport::MpiTransport() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owns_mpi_ = true;
  }
  // Errors come back as codes (and become farm::Error) instead of killing the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  // Our own communicator: poll() probes any tag, which must not take the
  // messages of other code on MPI_COMM_WORLD (the emulated NCCL's data).
  MPI_Comm comm = MPI_COMM_NULL;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  comm_ = std::make_unique<Comm>(Comm{comm});
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
  blocking_receive_ = env_set("FARM_BLOCKING_RECEIVE");
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, static_cast<size_t>(len));
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_ranks_);
  MPI_Comm_free(&node);
}

MpiTransport::~MpiTransport() {
  // After an abandoned job MPI may still write into a started receive's buffer.
  for (auto& r : receiving_)
    if (!r->done) (void)r.release();
  if (owns_mpi_) MPI_Finalize();  // frees the communicator too
}

void MpiTransport::send(int dest, int tag, Bytes bytes) {
  FARM_ASSERT(dest >= 0 && dest < size_, "send to rank ", dest, " of ", size_);
  FARM_ASSERT(bytes.size() <= static_cast<size_t>(INT_MAX), "message of ", bytes.size(), " bytes");
  traffic_.messages_sent++;
  traffic_.bytes_sent += bytes.size();
  if (dest == rank_) {
    self_.push_back({rank_, tag, std::move(bytes)});
    return;
  }
  auto p = std::make_unique<Pending>();
  p->bytes = std::move(bytes);
  check(MPI_Isend(p->bytes.data(), static_cast<int>(p->bytes.size()), MPI_BYTE, dest, tag, comm_->comm,
                  &p->request),
        "MPI_Isend");
  pending_.push_back(std::move(p));
}

void MpiTransport::reap_sends() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    check(MPI_Test(&(*it)->request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    it = done ? pending_.erase(it) : it + 1;
  }
}

bool MpiTransport::sends_done() {
  reap_sends();
  return pending_.empty();
}

// Starts a receive for every message whose envelope has arrived.
void MpiTransport::start_receives() {
  for (;;) {
    int found = 0;
    MPI_Message handle;
    MPI_Status st;
    check(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_->comm, &found, &handle, &st), "MPI_Improbe");
    if (!found) return;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    auto r = std::make_unique<Receiving>();
    r->message.source = st.MPI_SOURCE;
    r->message.tag = st.MPI_TAG;
    r->message.bytes.resize(static_cast<size_t>(count));
    check(MPI_Imrecv(r->message.bytes.data(), count, MPI_BYTE, &handle, &r->request), "MPI_Imrecv");
    receiving_.push_back(std::move(r));
  }
}

// The oldest complete message whose source has no earlier one still
// arriving: messages of one sender come out in the order it sent them.
std::optional<Message> MpiTransport::take_received() {
  std::vector<int> waiting;  // sources with an incomplete receive ahead
  for (auto it = receiving_.begin(); it != receiving_.end(); ++it) {
    Receiving& r = **it;
    const int src = r.message.source;
    if (std::find(waiting.begin(), waiting.end(), src) != waiting.end()) continue;
    if (!r.done) {
      int done = 0;
      check(MPI_Test(&r.request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      r.done = done != 0;
    }
    if (!r.done) {
      waiting.push_back(src);
      continue;
    }
    Message m = std::move(r.message);
    receiving_.erase(it);
    return m;
  }
  return std::nullopt;
}

std::optional<Message> MpiTransport::poll() {
  reap_sends();
  Message m;
  if (!self_.empty()) {
    m = std::move(self_.front());
    self_.pop_front();
  } else if (blocking_receive_) {  // the pre-Imrecv way, for benchmarks/multihost_latency.sh's comparison
    int found = 0;
    MPI_Message handle;
    MPI_Status st;
    check(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_->comm, &found, &handle, &st), "MPI_Improbe");
    if (!found) return std::nullopt;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    m.source = st.MPI_SOURCE;
    m.tag = st.MPI_TAG;
    m.bytes.resize(static_cast<size_t>(count));
    check(MPI_Mrecv(m.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE), "MPI_Mrecv");
  } else {
    start_receives();
    auto got = take_received();
    if (!got) return std::nullopt;
    m = std::move(*got);
  }
  traffic_.messages_received++;
  traffic_.bytes_received += m.bytes.size();
  return m;
}

Message MpiTransport::wait() {
  for (;;)
    if (auto m = wait_for(3600)) return std::move(*m);
}

std::optional<Message> MpiTransport::wait_for(double seconds) {
  // With a core to itself, a rank first polls for up to 200 µs: a sleep
  // lasts at least the kernel's timer slack (~50 µs) past what was asked.
  // Then 20 µs doubling to 100 µs: a hop's latency stays well under a
  // block's compute time, and an idle rank costs next to no CPU. Ranks
  // oversubscribing the cores skip the spin and leave the core to others.
  const auto now = std::chrono::steady_clock::now();
  const auto until = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
  if (local_ranks_ <= static_cast<int>(std::thread::hardware_concurrency())) {
    const auto spin_until = std::min(until, now + std::chrono::microseconds(200));
    do {
      if (auto m = poll()) return m;
    } while (std::chrono::steady_clock::now() < spin_until);
  }
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    if (auto m = poll()) return m;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(100));
  }
}

Bytes MpiTransport::broadcast(Bytes bytes, int root) {
  uint64_t n = bytes.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_->comm), "MPI_Bcast");
  bytes.resize(n);
  check(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, root, comm_->comm), "MPI_Bcast");
  return bytes;
}

std::vector<Bytes> MpiTransport::gather(Bytes bytes, int root) {
  int n = static_cast<int>(bytes.size());
  std::vector<int> sizes(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, comm_->comm), "MPI_Gather");
  Bytes all;
  if (rank_ == root) {
    int total = 0;
    for (int r = 0; r < size_; ++r) offsets[r] = total, total += sizes[r];
    all.resize(static_cast<size_t>(total));
  }
  check(MPI_Gatherv(bytes.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, root,
                    comm_->comm),
        "MPI_Gatherv");
  std::vector<Bytes> out;
  if (rank_ == root)
    for (int r = 0; r < size_; ++r) out.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + sizes[r]);
  return out;
}

void MpiTransport::drain() {
  self_.clear();
  bool entered = false;
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    bool got = false;
    while (poll()) got = true;  // dropped: the job is over
    if (!entered) entered = sends_done();
    if (entered && barrier_step()) break;
    if (!got) {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(500));
    }
  }
  while (poll()) {
  }
  // A started receive completes (its sender's data is on the way); its
  // buffer must outlive it.
  for (int i = 0; !receiving_.empty() && i < 100000; ++i) {
    while (poll()) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

bool MpiTransport::barrier_step() {
  if (!barrier_) {
    barrier_ = std::make_unique<Pending>();
    check(MPI_Ibarrier(comm_->comm, &barrier_->request), "MPI_Ibarrier");
  }
  int done = 0;
  check(MPI_Test(&barrier_->request, &done, MPI_STATUS_IGNORE), "MPI_Test");
  if (done) barrier_.reset();
  return done != 0;
}

void MpiTransport::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();
}

}  // namespace farm::comm
