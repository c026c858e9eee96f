#include "farm/comm/nccl_transport.h"

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>

#include "farm/core/error.h"

namespace farm::comm {

namespace {

void check(cudaError_t e, const char* call, const std::string& where) {
  if (e != cudaSuccess) fail("NCCL: ", call, " failed: ", cudaGetErrorString(e), where);
}

void check(ncclResult_t r, const char* call, const std::string& where) {
  if (r == ncclSuccess) return;
  const char* last = ncclGetLastError(nullptr);
  fail("NCCL: ", call, " failed: ", ncclGetErrorString(r), last && *last ? cat(" (", last, ")") : "", where);
}

void check_mpi(int rc, const char* call, const std::string& where) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("NCCL: ", call, " failed: ", text, where);
}

// What the MPI header of an NCCL message carries.
struct Header {
  int64_t tag = 0;
  uint64_t bytes = 0;
};

// Pinned host memory, so the host->device copy is asynchronous: a copy from
// pageable memory may wait for the stream, that is for the previous send to
// be received.
struct Staging {
  void* host = nullptr;
  size_t capacity = 0;
};

struct Sending {
  Staging staging;
  cudaEvent_t done = nullptr;  // recorded after the ncclSend
};

// One end of a directed ring edge. In the edge's communicator the sender is
// NCCL rank 0 and the receiver NCCL rank 1.
struct Edge {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
};

}  // namespace

struct NcclTransport::Edges {
  Edge out, in;
  std::deque<Sending> sending;  // in the order of `out.stream`
  std::vector<Staging> spare;   // staging buffers not in use
};

NcclTransport::NcclTransport(std::unique_ptr<MpiTransport> mpi, int pipelines, int stages) : mpi_(std::move(mpi)) {
  FARM_ASSERT(mpi_, "NcclTransport without an MpiTransport");
  where_ = cat(" (rank ", rank(), " on ", host(), ")");
  if (pipelines < 1 || stages < 1 || pipelines * stages != size())
    fail("NCCL: ", pipelines, " pipelines x ", stages, " stages do not make the ", size(), " ranks of this job");
  if (stages < 2) return;
  stage_ = rank() % stages;
  const int first = rank() - stage_;
  next_ = first + (stage_ + 1) % stages;
  prev_ = first + (stage_ + stages - 1) % stages;

  // One GPU per rank on each node: NCCL refuses two ranks of one
  // communicator on one GPU. Agreed by all ranks, so all fail together.
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node),
            "MPI_Comm_split_type", where_);
  int local_rank = 0, local_ranks = 1;
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_ranks);
  MPI_Comm_free(&node);
  int devices = 0;
  const cudaError_t counted = cudaGetDeviceCount(&devices);
  if (counted != cudaSuccess) devices = 0;
  int crowded = local_ranks > devices ? 1 : 0, any_crowded = 0;
  check_mpi(MPI_Allreduce(&crowded, &any_crowded, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD), "MPI_Allreduce", where_);
  if (any_crowded)
    fail("NCCL: a node has more ranks than CUDA devices (here ", local_ranks, " ranks, ", devices, " devices",
         counted != cudaSuccess ? cat(": ", cudaGetErrorString(counted)) : "",
         "); --transport nccl needs one GPU per rank", where_);
  check(cudaSetDevice(local_rank % devices), "cudaSetDevice", where_);

  // Ids: mine for the outgoing edge to next_, prev_'s for the incoming one.
  ncclUniqueId out_id{}, in_id{};
  check(ncclGetUniqueId(&out_id), "ncclGetUniqueId", where_);
  constexpr int kIdBytes = static_cast<int>(sizeof(ncclUniqueId));
  check_mpi(MPI_Sendrecv(&out_id, kIdBytes, MPI_BYTE, next_, kHeaderTag + 1, &in_id, kIdBytes, MPI_BYTE, prev_,
                         kHeaderTag + 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Sendrecv", where_);
  edges_ = std::make_unique<Edges>();
  Edge& out = edges_->out;
  Edge& in = edges_->in;
  check(ncclGroupStart(), "ncclGroupStart", where_);
  check(ncclCommInitRank(&out.comm, 2, out_id, 0), "ncclCommInitRank", where_);
  check(ncclCommInitRank(&in.comm, 2, in_id, 1), "ncclCommInitRank", where_);
  check(ncclGroupEnd(), "ncclGroupEnd", where_);
  // Non-blocking streams: no implicit order with the legacy default stream
  // that compute may use.
  check(cudaStreamCreateWithFlags(&out.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", where_);
  check(cudaStreamCreateWithFlags(&in.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", where_);

  // Connections are set up on first use, with a handshake between the two
  // ends; doing it here, grouped, keeps that handshake out of the ring.
  void *one_out = nullptr, *one_in = nullptr;
  check(cudaMallocAsync(&one_out, 1, out.stream), "cudaMallocAsync", where_);
  check(cudaMallocAsync(&one_in, 1, in.stream), "cudaMallocAsync", where_);
  check(cudaMemsetAsync(one_out, 0, 1, out.stream), "cudaMemsetAsync", where_);
  check(ncclGroupStart(), "ncclGroupStart", where_);
  check(ncclSend(one_out, 1, ncclUint8, 1, out.comm, out.stream), "ncclSend", where_);
  check(ncclRecv(one_in, 1, ncclUint8, 0, in.comm, in.stream), "ncclRecv", where_);
  check(ncclGroupEnd(), "ncclGroupEnd", where_);
  check(cudaFreeAsync(one_out, out.stream), "cudaFreeAsync", where_);
  check(cudaFreeAsync(one_in, in.stream), "cudaFreeAsync", where_);
  check(cudaStreamSynchronize(out.stream), "cudaStreamSynchronize", where_);
  check(cudaStreamSynchronize(in.stream), "cudaStreamSynchronize", where_);
}

NcclTransport::~NcclTransport() {
  if (!edges_) return;
  Edges& e = *edges_;
  // After drain() every send has completed. After a failure one may never
  // be received: then abort the communicators instead of waiting for it,
  // and leave the rest to the process's end (freeing pinned memory would
  // wait for the whole device).
  bool clean = true;
  for (const Sending& s : e.sending) clean = clean && cudaEventQuery(s.done) == cudaSuccess;
  (void)cudaGetLastError();  // a cudaErrorNotReady above is no error
  // Stage 0 takes its outgoing edge first, the others their incoming edge:
  // every rank takes the edges s -> s + 1 in increasing s, so even if
  // destroying one waited for its other end, no cycle could form.
  Edge* order[2] = {&e.in, &e.out};
  if (stage_ == 0) std::swap(order[0], order[1]);
  for (Edge* edge : order) {
    if (clean) ncclCommDestroy(edge->comm);
    else ncclCommAbort(edge->comm);
  }
  if (!clean) return;
  for (Edge* edge : order) cudaStreamDestroy(edge->stream);
  for (Sending& s : e.sending) {
    cudaEventDestroy(s.done);
    cudaFreeHost(s.staging.host);
  }
  for (Staging& s : e.spare) cudaFreeHost(s.host);
}

void NcclTransport::reap_sends() {
  if (!edges_) return;
  auto& sending = edges_->sending;
  // One stream: they complete in order.
  while (!sending.empty()) {
    const cudaError_t q = cudaEventQuery(sending.front().done);
    if (q == cudaErrorNotReady) {
      (void)cudaGetLastError();  // not an error; keep it from the next check of the compute's launches
      return;
    }
    check(q, "cudaEventQuery", where_);
    check(cudaEventDestroy(sending.front().done), "cudaEventDestroy", where_);
    edges_->spare.push_back(sending.front().staging);
    sending.pop_front();
  }
}

void NcclTransport::send(int dest, int tag, Bytes bytes) {
  FARM_ASSERT(tag != kHeaderTag, "tag ", tag, " is NcclTransport's own");
  if (dest != next_ || bytes.size() < kMinNcclBytes) {
    traffic_.messages_sent++;
    traffic_.bytes_sent += bytes.size();
    mpi_->send(dest, tag, std::move(bytes));
    return;
  }
  reap_sends();
  Edges& e = *edges_;
  const size_t n = bytes.size();
  // The smallest spare buffer that fits, else a new one; none is freed
  // before the end (cudaFreeHost would wait for the whole device).
  auto fits = e.spare.end();
  for (auto it = e.spare.begin(); it != e.spare.end(); ++it)
    if (it->capacity >= n && (fits == e.spare.end() || it->capacity < fits->capacity)) fits = it;
  Sending s;
  if (fits != e.spare.end()) {
    s.staging = *fits;
    e.spare.erase(fits);
  } else {
    constexpr size_t kMiB = size_t{1} << 20;
    s.staging.capacity = (n + kMiB - 1) / kMiB * kMiB;  // whole MiB, for reuse
    check(cudaHostAlloc(&s.staging.host, s.staging.capacity, cudaHostAllocDefault), "cudaHostAlloc", where_);
  }
  std::memcpy(s.staging.host, bytes.data(), n);

  // The header goes first: should NCCL still need a handshake with the
  // receiver, the receiver is then already on its way to ncclRecv.
  const Header h{tag, n};
  Bytes header(sizeof h);
  std::memcpy(header.data(), &h, sizeof h);
  mpi_->send(dest, kHeaderTag, std::move(header));

  // Stream-ordered device memory: allocating and freeing never wait for
  // other streams.
  void* dev = nullptr;
  check(cudaMallocAsync(&dev, n, e.out.stream), "cudaMallocAsync", where_);
  check(cudaMemcpyAsync(dev, s.staging.host, n, cudaMemcpyHostToDevice, e.out.stream), "cudaMemcpyAsync", where_);
  check(ncclSend(dev, n, ncclUint8, 1, e.out.comm, e.out.stream), "ncclSend", where_);
  check(cudaFreeAsync(dev, e.out.stream), "cudaFreeAsync", where_);
  check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreateWithFlags", where_);
  check(cudaEventRecord(s.done, e.out.stream), "cudaEventRecord", where_);
  e.sending.push_back(s);
  traffic_.messages_sent++;
  traffic_.bytes_sent += n;
}

Message NcclTransport::receive(const Message& header) {
  FARM_ASSERT(edges_ && header.source == prev_ && header.bytes.size() == sizeof(Header), "NCCL header of ",
              header.bytes.size(), " bytes from rank ", header.source, " (previous stage: rank ", prev_, ")");
  Header h;
  std::memcpy(&h, header.bytes.data(), sizeof h);
  Edge& in = edges_->in;
  Message m{header.source, static_cast<int>(h.tag), Bytes(h.bytes)};
  void* dev = nullptr;
  check(cudaMallocAsync(&dev, h.bytes, in.stream), "cudaMallocAsync", where_);
  check(ncclRecv(dev, h.bytes, ncclUint8, 0, in.comm, in.stream), "ncclRecv", where_);
  // Into pageable memory: this copy waits for the receive, which is what we want.
  check(cudaMemcpyAsync(m.bytes.data(), dev, h.bytes, cudaMemcpyDeviceToHost, in.stream), "cudaMemcpyAsync",
        where_);
  check(cudaFreeAsync(dev, in.stream), "cudaFreeAsync", where_);
  check(cudaStreamSynchronize(in.stream), "cudaStreamSynchronize", where_);
  return m;
}

std::optional<Message> NcclTransport::poll() {
  reap_sends();
  auto m = mpi_->poll();
  if (!m) return std::nullopt;
  if (m->tag == kHeaderTag) *m = receive(*m);
  traffic_.messages_received++;
  traffic_.bytes_received += m->bytes.size();
  return m;
}

Message NcclTransport::wait() {
  // As MpiTransport::wait: 20 µs doubling to 500 µs.
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    if (auto m = poll()) return std::move(*m);
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(500));
  }
}

bool NcclTransport::sends_done() {
  reap_sends();
  const bool nccl_done = !edges_ || edges_->sending.empty();
  return mpi_->sends_done() && nccl_done;
}

void NcclTransport::drain() {
  // MpiTransport::drain's loop, receiving through poll() so that NCCL
  // messages still arriving complete: their senders' sends finish only then.
  bool entered = false;
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    bool got = false;
    while (poll()) got = true;  // dropped: the job is over
    if (!entered) entered = sends_done();
    if (entered && mpi_->barrier_step()) break;
    if (!got) {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(500));
    }
  }
  while (poll()) {
  }
}

}  // namespace farm::comm
