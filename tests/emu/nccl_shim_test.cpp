// The NCCL shim (kernels/emu/nccl) under mpirun; ctest runs it on 2, 3 and 4
// ranks. Every rank sets up its pipeline ring of 2-rank communicators as the
// NCCL link (kernels/cuda/nccl_link.cpp) does: one communicator per directed
// edge (its outgoing edge's id swapped with the neighbours over MPI), all of
// a rank's initialised in one group, then a grouped 1-byte exchange; then checks byte-exact delivery of every
// size and datatype on emulated device memory, FIFO order, grouped rings in
// both directions, size mismatches reported as errors, a communicator of
// every rank with a permuted rank order, argument errors, ncclCommAbort with
// a send nobody receives, and that WORLD traffic of other tags is untouched.
// Exits non-zero on any failure (a deadlock shows as the ctest timeout).
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int me = 0, world_n = 1;
int failures = 0;

void expect(bool ok, const std::string& what, int line) {
  if (ok) return;
  std::fprintf(stderr, "rank %d: FAIL line %d: %s\n", me, line, what.c_str());
  ++failures;
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

void expect_result(ncclResult_t got, ncclResult_t want, const char* call, int line) {
  if (got == want) return;
  expect(false,
         std::string(call) + " returned " + ncclGetErrorString(got) + " (" + ncclGetLastError(nullptr) +
             "), expected " + ncclGetErrorString(want),
         line);
}
#define NCCL_OK(call) expect_result((call), ncclSuccess, #call, __LINE__)
#define NCCL_FAILS(call, want) expect_result((call), (want), #call, __LINE__)

void cuda_ok(cudaError_t e, int line) { expect(e == cudaSuccess, cudaGetErrorString(e), line); }
#define CUDA_OK(call) cuda_ok((call), __LINE__)

// Bytes that differ by sender, message and position.
std::vector<uint8_t> pattern(size_t n, int from, int seq) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>((i * 131 + i / 251 + static_cast<size_t>(from) * 17 + seq * 5) & 0xff);
  return b;
}

// Emulated device memory, as the transport's buffers are; `slack` bytes past
// the end hold 0xCD, to see that a receive writes nothing beyond its size.
struct DeviceBytes {
  static constexpr size_t slack = 16;
  uint8_t* p = nullptr;
  size_t n = 0;
  explicit DeviceBytes(size_t bytes) : n(bytes) {
    CUDA_OK(cudaMalloc(reinterpret_cast<void**>(&p), n + slack));
    CUDA_OK(cudaMemset(p, 0xCD, n + slack));
  }
  explicit DeviceBytes(const std::vector<uint8_t>& host) : DeviceBytes(host.size()) {
    CUDA_OK(cudaMemcpy(p, host.data(), n, cudaMemcpyHostToDevice));
  }
  ~DeviceBytes() { cudaFree(p); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  std::vector<uint8_t> host() const {
    std::vector<uint8_t> h(n + slack);
    CUDA_OK(cudaMemcpy(h.data(), p, n + slack, cudaMemcpyDeviceToHost));
    return h;
  }
  // The first n bytes equal `want` and the slack is untouched.
  bool holds(const std::vector<uint8_t>& want) const {
    const auto h = host();
    for (size_t i = n; i < n + slack; ++i)
      if (h[i] != 0xCD) return false;
    return n == 0 || std::memcmp(h.data(), want.data(), n) == 0;
  }
};

size_t size_of(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8: return 1;
    case ncclFloat16:
    case ncclBfloat16: return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32: return 4;
    default: return 8;
  }
}

// One rank's two ring edges, as the NCCL link holds them: in `out` this rank
// is rank 0 and `next` rank 1; in `in`, `prev` is rank 0 and this rank 1.
struct Ring {
  int next = 0, prev = 0;
  ncclComm_t out = nullptr, in = nullptr;
  cudaStream_t out_stream = nullptr, in_stream = nullptr;
};

constexpr int kIdTag = 1001;  // any tag: the ids are swapped before the shim's own traffic

Ring make_ring(std::vector<ncclUniqueId>* ids = nullptr) {
  Ring r;
  r.next = (me + 1) % world_n;
  r.prev = (me + world_n - 1) % world_n;
  ncclUniqueId out_id{}, in_id{};
  NCCL_OK(ncclGetUniqueId(&out_id));
  constexpr int kIdBytes = static_cast<int>(sizeof(ncclUniqueId));
  EXPECT(MPI_Sendrecv(&out_id, kIdBytes, MPI_BYTE, r.next, kIdTag, &in_id, kIdBytes, MPI_BYTE, r.prev, kIdTag,
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE) == MPI_SUCCESS);
  if (ids) ids->push_back(out_id);
  NCCL_OK(ncclGroupStart());
  NCCL_OK(ncclCommInitRank(&r.out, 2, out_id, 0));
  NCCL_OK(ncclCommInitRank(&r.in, 2, in_id, 1));
  NCCL_OK(ncclGroupEnd());
  CUDA_OK(cudaStreamCreateWithFlags(&r.out_stream, cudaStreamNonBlocking));
  CUDA_OK(cudaStreamCreateWithFlags(&r.in_stream, cudaStreamNonBlocking));

  void *one_out = nullptr, *one_in = nullptr;
  CUDA_OK(cudaMallocAsync(&one_out, 1, r.out_stream));
  CUDA_OK(cudaMallocAsync(&one_in, 1, r.in_stream));
  CUDA_OK(cudaMemsetAsync(one_out, me, 1, r.out_stream));
  NCCL_OK(ncclGroupStart());
  NCCL_OK(ncclSend(one_out, 1, ncclUint8, 1, r.out, r.out_stream));
  NCCL_OK(ncclRecv(one_in, 1, ncclUint8, 0, r.in, r.in_stream));
  NCCL_OK(ncclGroupEnd());
  uint8_t got = 0xff;
  CUDA_OK(cudaMemcpy(&got, one_in, 1, cudaMemcpyDeviceToHost));
  EXPECT(got == r.prev);
  CUDA_OK(cudaFreeAsync(one_out, r.out_stream));
  CUDA_OK(cudaFreeAsync(one_in, r.in_stream));
  return r;
}

void destroy_ring(Ring& r) {
  NCCL_OK(ncclCommDestroy(r.out));
  NCCL_OK(ncclCommDestroy(r.in));
  CUDA_OK(cudaStreamDestroy(r.out_stream));
  CUDA_OK(cudaStreamDestroy(r.in_stream));
}

void test_ring_init(const Ring& r, const std::vector<ncclUniqueId>& ids) {
  int count = 0, rank = -1;
  NCCL_OK(ncclCommCount(r.out, &count));
  NCCL_OK(ncclCommUserRank(r.out, &rank));
  EXPECT(count == 2 && rank == 0);
  NCCL_OK(ncclCommCount(r.in, &count));
  NCCL_OK(ncclCommUserRank(r.in, &rank));
  EXPECT(count == 2 && rank == 1);
  ncclResult_t async = ncclInternalError;
  NCCL_OK(ncclCommGetAsyncError(r.out, &async));
  EXPECT(async == ncclSuccess);
  // Ids made on every rank, several per rank, never collide.
  const int mine = static_cast<int>(ids.size());
  std::vector<ncclUniqueId> all(static_cast<size_t>(mine * world_n));
  const int bytes = mine * static_cast<int>(sizeof(ncclUniqueId));
  EXPECT(MPI_Allgather(ids.data(), bytes, MPI_BYTE, all.data(), bytes, MPI_BYTE, MPI_COMM_WORLD) == MPI_SUCCESS);
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = i + 1; j < all.size(); ++j) EXPECT(std::memcmp(&all[i], &all[j], sizeof(ncclUniqueId)) != 0);
}

struct Case {
  ncclDataType_t type;
  size_t count;
};
const Case kCases[] = {{ncclUint8, 0},
                       {ncclInt8, 1},
                       {ncclUint8, 1},
                       {ncclInt32, 3},
                       {ncclUint32, 1000},
                       {ncclInt64, 7},
                       {ncclUint64, 12345},
                       {ncclFloat16, 33},
                       {ncclBfloat16, 65537},
                       {ncclFloat32, (3u << 20) / 4},
                       {ncclInt8, (4u << 20) + 3},
                       {ncclFloat16, 0},
                       {ncclBfloat16, 1}};

// Each message is sent, its device buffer overwritten and freed at once (the
// emulated stream is done), then the previous rank's message received.
void test_sizes_and_types(const Ring& r) {
  int seq = 0;
  for (const Case& c : kCases) {
    const size_t bytes = c.count * size_of(c.type);
    {
      DeviceBytes send(pattern(bytes, me, seq));
      NCCL_OK(ncclSend(send.p, c.count, c.type, 1, r.out, r.out_stream));
      CUDA_OK(cudaMemset(send.p, 0xEE, bytes));
    }
    DeviceBytes recv(bytes);
    NCCL_OK(ncclRecv(recv.p, c.count, c.type, 0, r.in, r.in_stream));
    CUDA_OK(cudaStreamSynchronize(r.in_stream));
    expect(recv.holds(pattern(bytes, r.prev, seq)), "bytes of case " + std::to_string(seq), __LINE__);
    ++seq;
  }
}

// 40 messages of varied sizes sent before any is received arrive in order.
void test_fifo(const Ring& r) {
  constexpr int kMessages = 40;
  auto size_at = [](int i) { return static_cast<size_t>(i * 977 % 5003 + (i % 7 == 0 ? 300000 : 0)); };
  for (int i = 0; i < kMessages; ++i) {
    DeviceBytes send(pattern(size_at(i), me, 100 + i));
    NCCL_OK(ncclSend(send.p, size_at(i), ncclUint8, 1, r.out, r.out_stream));
  }
  for (int i = 0; i < kMessages; ++i) {
    DeviceBytes recv(size_at(i));
    NCCL_OK(ncclRecv(recv.p, size_at(i), ncclUint8, 0, r.in, r.in_stream));
    expect(recv.holds(pattern(size_at(i), r.prev, 100 + i)), "FIFO message " + std::to_string(i), __LINE__);
  }
}

// One group per round: receives listed before sends, both directions of the
// ring (a 2-rank communicator carries either way), several MB each.
void test_grouped_ring(const Ring& r) {
  constexpr size_t kBytes = (2u << 20) + 5;
  for (int round = 0; round < 3; ++round) {
    DeviceBytes from_prev(kBytes), from_next(kBytes / 4 * 4);
    DeviceBytes to_next(pattern(kBytes, me, 200 + round)), to_prev(pattern(kBytes / 4 * 4, me, 300 + round));
    NCCL_OK(ncclGroupStart());
    NCCL_OK(ncclRecv(from_prev.p, kBytes, ncclUint8, 0, r.in, r.in_stream));
    NCCL_OK(ncclRecv(from_next.p, kBytes / 4, ncclFloat32, 1, r.out, r.out_stream));
    NCCL_OK(ncclSend(to_next.p, kBytes, ncclUint8, 1, r.out, r.out_stream));
    NCCL_OK(ncclSend(to_prev.p, kBytes / 4, ncclInt32, 0, r.in, r.in_stream));
    NCCL_OK(ncclGroupEnd());
    expect(from_prev.holds(pattern(kBytes, r.prev, 200 + round)), "grouped, from prev", __LINE__);
    expect(from_next.holds(pattern(kBytes / 4 * 4, r.next, 300 + round)), "grouped, from next", __LINE__);
  }
}

// count x datatype size differing between the two ends is an error at the
// receiver, which drops the message; the next message is fine.
void test_size_mismatch(const Ring& r) {
  auto sent = [&](size_t n, int seq) {
    DeviceBytes b(pattern(n, me, seq));
    NCCL_OK(ncclSend(b.p, n, ncclUint8, 1, r.out, r.out_stream));
  };
  sent(10, 400);
  sent(16, 401);
  sent(24, 402);
  sent(12, 403);
  DeviceBytes recv(24);
  NCCL_FAILS(ncclRecv(recv.p, 3, ncclInt32, 0, r.in, r.in_stream), ncclInvalidUsage);  // 12 bytes for 10
  const std::string why = ncclGetLastError(nullptr);
  expect(why.find("12 bytes") != std::string::npos && why.find("sent 10 bytes") != std::string::npos,
         "message names both sizes: " + why, __LINE__);
  NCCL_FAILS(ncclRecv(recv.p, 1, ncclUint64, 0, r.in, r.in_stream), ncclInvalidUsage);  // 8 for 16: no truncation
  // Inside a group the error comes from ncclGroupEnd.
  NCCL_OK(ncclGroupStart());
  NCCL_OK(ncclRecv(recv.p, 2, ncclFloat64, 0, r.in, r.in_stream));  // 16 for 24
  NCCL_FAILS(ncclGroupEnd(), ncclInvalidUsage);
  DeviceBytes ok(12);
  NCCL_OK(ncclRecv(ok.p, 6, ncclBfloat16, 0, r.in, r.in_stream));
  expect(ok.holds(pattern(12, r.prev, 403)), "the message after the mismatches", __LINE__);
  ncclResult_t async = ncclInternalError;
  NCCL_OK(ncclCommGetAsyncError(r.in, &async));
  EXPECT(async == ncclSuccess);
}

// Every rank in one communicator made by world rank 1, ranks rotated (the
// creator is not always rank 0, nor comm rank = world rank):
// every rank sends to every rank (itself too), then receives from each in a
// rotated order.
void test_world_comm() {
  const int root = 1 % world_n;
  const int rank = (me + 1) % world_n;
  ncclUniqueId id{};
  if (me == root) NCCL_OK(ncclGetUniqueId(&id));
  EXPECT(MPI_Bcast(&id, sizeof id, MPI_BYTE, root, MPI_COMM_WORLD) == MPI_SUCCESS);
  ncclComm_t comm = nullptr;
  NCCL_OK(ncclCommInitRank(&comm, world_n, id, rank));
  if (!comm) return;
  int count = 0, user_rank = -1;
  NCCL_OK(ncclCommCount(comm, &count));
  NCCL_OK(ncclCommUserRank(comm, &user_rank));
  EXPECT(count == world_n && user_rank == rank);
  auto size_for = [](int from, int to) { return static_cast<size_t>(1000 * from + 37 * to + (from == to ? 0 : 1)); };
  for (int round = 0; round < 2; ++round) {
    for (int to = 0; to < world_n; ++to) {
      DeviceBytes b(pattern(size_for(rank, to) * 8, rank, 500 + 10 * to + round));
      NCCL_OK(ncclSend(b.p, size_for(rank, to), ncclFloat64, to, comm, nullptr));
    }
    for (int k = 0; k < world_n; ++k) {
      const int from = (rank + k + round) % world_n;
      DeviceBytes b(size_for(from, rank) * 8);
      NCCL_OK(ncclRecv(b.p, size_for(from, rank), ncclUint64, from, comm, nullptr));
      expect(b.holds(pattern(size_for(from, rank) * 8, from, 500 + 10 * rank + round)),
             "world comm, from rank " + std::to_string(from), __LINE__);
    }
  }
  NCCL_OK(ncclCommDestroy(comm));
}

void test_argument_errors(const Ring& r) {
  uint8_t* buf = nullptr;
  CUDA_OK(cudaMalloc(reinterpret_cast<void**>(&buf), 16));
  NCCL_FAILS(ncclSend(buf, 1, ncclUint8, 2, r.out, nullptr), ncclInvalidArgument);
  EXPECT(std::string(ncclGetLastError(nullptr)).find("peer 2") != std::string::npos);
  NCCL_FAILS(ncclRecv(buf, 1, ncclUint8, -1, r.in, nullptr), ncclInvalidArgument);
  NCCL_FAILS(ncclSend(buf, 1, static_cast<ncclDataType_t>(99), 1, r.out, nullptr), ncclInvalidArgument);
  NCCL_FAILS(ncclSend(buf, 1, ncclUint8, 1, nullptr, nullptr), ncclInvalidArgument);
  NCCL_FAILS(ncclRecv(nullptr, 4, ncclUint8, 0, r.in, nullptr), ncclInvalidArgument);
  NCCL_FAILS(ncclSend(buf, size_t{1} << 31, ncclUint8, 1, r.out, nullptr), ncclInvalidArgument);
  ncclComm_t c = nullptr;
  ncclUniqueId zero{};
  NCCL_FAILS(ncclCommInitRank(&c, 2, zero, 0), ncclInvalidArgument);
  ncclUniqueId id{};
  NCCL_OK(ncclGetUniqueId(&id));
  NCCL_FAILS(ncclCommInitRank(&c, 2, id, 2), ncclInvalidArgument);
  NCCL_FAILS(ncclGroupEnd(), ncclInvalidUsage);
  // A failed call inside a group is reported by ncclGroupEnd too.
  NCCL_OK(ncclGroupStart());
  NCCL_FAILS(ncclSend(buf, 1, ncclUint8, 5, r.out, nullptr), ncclInvalidArgument);
  NCCL_FAILS(ncclGroupEnd(), ncclInvalidArgument);
  for (int v = 0; v <= ncclNumResults; ++v) EXPECT(ncclGetErrorString(static_cast<ncclResult_t>(v)) != nullptr);
  int version = 0;
  NCCL_OK(ncclGetVersion(&version));
  EXPECT(version == NCCL_VERSION_CODE && version >= NCCL_VERSION(2, 18, 0));
  cudaFree(buf);
}

// Ranks disagreeing on nranks: both ends get an error, nobody hangs.
void test_nranks_mismatch(const Ring& r) {
  ncclUniqueId out_id{}, in_id{};
  NCCL_OK(ncclGetUniqueId(&out_id));
  EXPECT(MPI_Sendrecv(&out_id, sizeof out_id, MPI_BYTE, r.next, kIdTag, &in_id, sizeof in_id, MPI_BYTE, r.prev, kIdTag,
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE) == MPI_SUCCESS);
  ncclComm_t out = nullptr, in = nullptr;
  NCCL_OK(ncclGroupStart());
  NCCL_OK(ncclCommInitRank(&out, 2, out_id, 0));
  NCCL_OK(ncclCommInitRank(&in, 3, in_id, 1));  // the creator says 2
  NCCL_FAILS(ncclGroupEnd(), ncclInvalidUsage);
  uint8_t* buf = nullptr;
  CUDA_OK(cudaMalloc(reinterpret_cast<void**>(&buf), 1));
  NCCL_FAILS(ncclSend(buf, 1, ncclUint8, 1, out, nullptr), ncclInvalidUsage);
  ncclResult_t async = ncclSuccess;
  NCCL_OK(ncclCommGetAsyncError(in, &async));
  EXPECT(async == ncclInvalidUsage);
  NCCL_OK(ncclCommAbort(out));
  NCCL_OK(ncclCommAbort(in));
  cudaFree(buf);
}

// A send nobody will receive (4 MB: past any eager limit, so MPI cannot
// complete it locally): ncclCommAbort returns without waiting.
void test_abort(std::vector<ncclUniqueId>* ids) {
  Ring r = make_ring(ids);
  DeviceBytes big(pattern(4u << 20, me, 600)), small(pattern(10, me, 601));
  NCCL_OK(ncclSend(big.p, 4u << 20, ncclUint8, 1, r.out, r.out_stream));
  NCCL_OK(ncclSend(small.p, 10, ncclUint8, 1, r.out, r.out_stream));
  const double t0 = MPI_Wtime();
  NCCL_OK(ncclCommAbort(r.out));
  NCCL_OK(ncclCommAbort(r.in));
  EXPECT(MPI_Wtime() - t0 < 5.0);
  CUDA_OK(cudaStreamDestroy(r.out_stream));
  CUDA_OK(cudaStreamDestroy(r.in_stream));
}

// Another user of WORLD (as MpiTransport is) keeps its messages: the shim
// receives only with its own tags.
void test_foreign_traffic(const Ring& r) {
  const int token = 1000 + me;
  MPI_Request req;
  EXPECT(MPI_Isend(&token, 1, MPI_INT, r.next, 77, MPI_COMM_WORLD, &req) == MPI_SUCCESS);
  DeviceBytes send(pattern(100, me, 700)), recv(100);
  NCCL_OK(ncclSend(send.p, 100, ncclUint8, 1, r.out, nullptr));
  NCCL_OK(ncclRecv(recv.p, 100, ncclUint8, 0, r.in, nullptr));
  EXPECT(recv.holds(pattern(100, r.prev, 700)));
  int got = -1;
  EXPECT(MPI_Recv(&got, 1, MPI_INT, r.prev, 77, MPI_COMM_WORLD, MPI_STATUS_IGNORE) == MPI_SUCCESS);
  EXPECT(got == 1000 + r.prev);
  EXPECT(MPI_Wait(&req, MPI_STATUS_IGNORE) == MPI_SUCCESS);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &world_n);
  if (world_n < 2) {
    std::fprintf(stderr, "run me under mpirun with at least 2 ranks\n");
    MPI_Finalize();
    return 2;
  }
  std::vector<ncclUniqueId> ids;
  Ring ring = make_ring(&ids);
  test_foreign_traffic(ring);
  test_sizes_and_types(ring);
  test_fifo(ring);
  test_grouped_ring(ring);
  test_size_mismatch(ring);
  test_argument_errors(ring);
  test_nranks_mismatch(ring);
  test_world_comm();
  test_abort(&ids);
  // The ring still works after the other communicators came and went.
  test_sizes_and_types(ring);
  test_ring_init(ring, ids);
  destroy_ring(ring);

  int all_failures = 0;
  MPI_Allreduce(&failures, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (me == 0) std::printf("nccl_shim_test on %d ranks: %d failure(s)\n", world_n, all_failures);
  MPI_Finalize();
  return all_failures == 0 ? 0 : 1;
}
