#include "kernels/cuda/nccl_link.h"

#include <nccl.h>

#include <cstring>
#include <deque>
#include <map>
#include <utility>

#include "farm/core/error.h"
#include "kernels/cuda/device_allocator.h"

namespace farm::kernels::cuda_detail {

namespace {

struct Check {
  const std::string& where;
  void operator()(cudaError_t e, const char* call) const {
    if (e != cudaSuccess) fail("NCCL link: ", call, " failed: ", cudaGetErrorString(e), where);
  }
  void operator()(ncclResult_t r, const char* call) const {
    if (r == ncclSuccess) return;
    const char* last = ncclGetLastError(nullptr);
    fail("NCCL link: ", call, " failed: ", ncclGetErrorString(r), last && *last ? cat(" (", last, ")") : "", where);
  }
};

// A send in flight on an edge: its tensors stay alive until `done`.
struct Sending {
  std::vector<Tensor> tensors;
  cudaEvent_t done = nullptr;
};

struct Edge {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  std::deque<Sending> sending;  // in stream order: they complete in order
};

class NcclLink final : public TensorLink {
 public:
  NcclLink(int rank, const std::vector<LinkEdge>& edges, const AllGather& all_gather, cudaStream_t stream,
           std::shared_ptr<CachingAllocator> alloc, Device device, std::string where)
      : rank_(rank), compute_(stream), alloc_(std::move(alloc)), device_(device), where_(std::move(where)) {
    const Check check{where_};
    // Each rank makes the ids of its outgoing edges; every rank learns all of them.
    std::vector<LinkEdge> mine;
    for (const LinkEdge& e : edges)
      if (e.from == rank_) mine.push_back(e);
    std::vector<uint8_t> ids(mine.size() * sizeof(ncclUniqueId));
    for (size_t i = 0; i < mine.size(); ++i) {
      ncclUniqueId id{};
      check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      std::memcpy(ids.data() + i * sizeof id, &id, sizeof id);
    }
    const std::vector<std::vector<uint8_t>> all = all_gather(std::move(ids));

    // Every communicator of this rank in one group: initialised one after
    // the other, ranks would wait on each other around the ring.
    check(ncclGroupStart(), "ncclGroupStart");
    for (const LinkEdge& e : edges) {
      if (e.from != rank_ && e.to != rank_) continue;
      FARM_ASSERT(e.from != e.to && e.from >= 0 && static_cast<size_t>(e.from) < all.size(), "link edge ", e.from,
                  " -> ", e.to);
      // The id is the from-rank's, at this edge's place among its outgoing edges.
      size_t k = 0;
      for (const LinkEdge& o : edges)
        if (o.from == e.from) {
          if (o == e) break;
          ++k;
        }
      const auto& theirs = all[static_cast<size_t>(e.from)];
      FARM_ASSERT((k + 1) * sizeof(ncclUniqueId) <= theirs.size(), "no NCCL id for edge ", e.from, " -> ", e.to);
      ncclUniqueId id;
      std::memcpy(&id, theirs.data() + k * sizeof id, sizeof id);
      Edge& edge = edges_[e];
      check(ncclCommInitRank(&edge.comm, 2, id, e.from == rank_ ? 0 : 1), "ncclCommInitRank");
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
    for (auto& [e, edge] : edges_)
      check(cudaStreamCreateWithFlags(&edge.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  }

  ~NcclLink() override {
    // After a clean end every send has completed. Otherwise a peer may never
    // receive (it failed): abort the communicators rather than wait on it.
    bool clean = !abandoned_;
    for (auto& [e, edge] : edges_)
      for (const Sending& s : edge.sending) clean = clean && cudaEventQuery(s.done) == cudaSuccess;
    (void)cudaGetLastError();  // cudaErrorNotReady above is no error
    // Every rank destroys its edges in one order (by (from, to)): even if
    // destroying waited for the other end, no cycle could form.
    for (auto& [e, edge] : edges_) {
      if (clean) ncclCommDestroy(edge.comm);
      else ncclCommAbort(edge.comm);
    }
    if (!clean) return;  // leave the rest to the process's end
    for (auto& [e, edge] : edges_) {
      for (Sending& s : edge.sending) cudaEventDestroy(s.done);
      cudaStreamDestroy(edge.stream);
    }
    if (ready_) cudaEventDestroy(ready_);
    if (arrived_) cudaEventDestroy(arrived_);
  }

  std::string name() const override { return "nccl"; }

  void send(int dest, std::vector<Tensor> tensors) override {
    const Check check{where_};
    Edge& edge = at(rank_, dest);
    reap(edge);
    check(cudaEventRecord(ready_event(), compute_), "cudaEventRecord");
    check(cudaStreamWaitEvent(edge.stream, ready_, 0), "cudaStreamWaitEvent");
    check(ncclGroupStart(), "ncclGroupStart");
    for (const Tensor& t : tensors) {
      FARM_ASSERT(!t.on_host() && t.device == device_, "a host tensor ", shape_str(t.shape), " on the NCCL link");
      if (t.bytes() == 0) continue;
      check(ncclSend(t.device_ptr(), t.bytes(), ncclUint8, 1, edge.comm, edge.stream), "ncclSend");
      bytes_sent_ += static_cast<int64_t>(t.bytes());
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
    Sending s{std::move(tensors), nullptr};
    check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    check(cudaEventRecord(s.done, edge.stream), "cudaEventRecord");
    edge.sending.push_back(std::move(s));
  }

  std::vector<Tensor> recv(int source, const std::vector<TensorSpec>& specs) override {
    const Check check{where_};
    Edge& edge = at(source, rank_);
    std::vector<Tensor> out;
    for (const TensorSpec& s : specs) out.push_back(Tensor::on_device(s.shape, s.dtype, device_, alloc_));
    // The blocks may still be read by compute queued before (the allocator
    // is ordered on the compute stream only): the receive waits for it.
    check(cudaEventRecord(ready_event(), compute_), "cudaEventRecord");
    check(cudaStreamWaitEvent(edge.stream, ready_, 0), "cudaStreamWaitEvent");
    check(ncclGroupStart(), "ncclGroupStart");
    for (Tensor& t : out)
      if (t.bytes() > 0) check(ncclRecv(t.device_ptr(), t.bytes(), ncclUint8, 0, edge.comm, edge.stream), "ncclRecv");
    check(ncclGroupEnd(), "ncclGroupEnd");
    check(cudaEventRecord(arrived_event(), edge.stream), "cudaEventRecord");
    check(cudaStreamWaitEvent(compute_, arrived_, 0), "cudaStreamWaitEvent");
    return out;
  }

  bool sends_done() override {
    bool done = true;
    for (auto& [e, edge] : edges_) {
      reap(edge);
      done = done && edge.sending.empty();
    }
    return done;
  }

  int64_t bytes_sent() const override { return bytes_sent_; }
  // A send can look complete to its stream before the peer took it (the
  // emulated runtime's events complete at once; the NCCL shim's destroy then
  // waits for the receive), so a failed job says so rather than relying on
  // the events.
  void abandon() override { abandoned_ = true; }

 private:
  Edge& at(int from, int to) {
    auto it = edges_.find(LinkEdge{from, to});
    FARM_ASSERT(it != edges_.end(), "no NCCL link from rank ", from, " to rank ", to, where_);
    return it->second;
  }

  void reap(Edge& edge) {
    const Check check{where_};
    while (!edge.sending.empty()) {
      const cudaError_t q = cudaEventQuery(edge.sending.front().done);
      if (q == cudaErrorNotReady) {
        (void)cudaGetLastError();  // not an error; keep it from the next launch check
        return;
      }
      check(q, "cudaEventQuery");
      check(cudaEventDestroy(edge.sending.front().done), "cudaEventDestroy");
      edge.sending.pop_front();
    }
  }

  // Events used only to order one stream after another: recording again
  // re-targets them, and a wait already queued keeps the old point.
  cudaEvent_t ready_event() {
    if (!ready_) Check{where_}(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    return ready_;
  }
  cudaEvent_t arrived_event() {
    if (!arrived_)
      Check{where_}(cudaEventCreateWithFlags(&arrived_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    return arrived_;
  }

  int rank_;
  cudaStream_t compute_;
  std::shared_ptr<CachingAllocator> alloc_;
  Device device_;
  std::string where_;
  std::map<LinkEdge, Edge> edges_;
  cudaEvent_t ready_ = nullptr, arrived_ = nullptr;
  int64_t bytes_sent_ = 0;
  bool abandoned_ = false;
};

}  // namespace

std::unique_ptr<TensorLink> make_nccl_link(int rank, const std::vector<LinkEdge>& edges,
                                           const AllGather& all_gather, cudaStream_t stream,
                                           std::shared_ptr<CachingAllocator> alloc, Device device,
                                           const std::string& where) {
  return std::make_unique<NcclLink>(rank, edges, all_gather, stream, std::move(alloc), device, where);
}

}  // namespace farm::kernels::cuda_detail
