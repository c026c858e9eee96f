#include "launcher/selftest_ranks.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if FARM_SELFTEST_NCCL
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include "kernels/cuda/autotune.h"
#include "kernels/cuda/cuda_check.h"
#endif

namespace farm::launcher {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

#if FARM_SELFTEST_NCCL

[[noreturn]] void rank_failed(const char* what, const char* detail, const char* stmt, const char* file, int line) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "%s:%d: rank %d on %s: %s error %s in %s\n", file, line, rank, host_name().c_str(), what,
               detail, stmt);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

#define FARM_CHECK_NCCL(call)                                                               \
  do {                                                                                      \
    const ncclResult_t farm_nccl_r_ = (call);                                               \
    if (farm_nccl_r_ != ncclSuccess)                                                        \
      rank_failed("NCCL", ncclGetErrorString(farm_nccl_r_), #call, __FILE__, __LINE__);     \
  } while (0)

#define FARM_CHECK_MPI(call)                                                   \
  do {                                                                         \
    const int farm_mpi_r_ = (call);                                            \
    if (farm_mpi_r_ != MPI_SUCCESS) {                                          \
      char farm_mpi_msg_[MPI_MAX_ERROR_STRING];                                \
      int farm_mpi_len_ = 0;                                                   \
      MPI_Error_string(farm_mpi_r_, farm_mpi_msg_, &farm_mpi_len_);            \
      rank_failed("MPI", farm_mpi_msg_, #call, __FILE__, __LINE__);            \
    }                                                                          \
  } while (0)

// Byte i of what rank `src` sends: differs between senders and along the buffer.
uint8_t pattern(int src, size_t i) {
  return static_cast<uint8_t>((static_cast<size_t>(src) * 151u + i * 13u + 7u) ^ (i >> 8));
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) { FARM_CHECK_CUDA(cudaMalloc(&p_, bytes)); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }

 private:
  void* p_ = nullptr;
};

class Communicator {
 public:
  explicit Communicator(const RankInfo& r) {
    ncclUniqueId id{};
    if (r.rank == 0) FARM_CHECK_NCCL(ncclGetUniqueId(&id));
    FARM_CHECK_MPI(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
    FARM_CHECK_NCCL(ncclCommInitRank(&comm_, r.size, id, r.rank));
  }
  ~Communicator() { ncclCommDestroy(comm_); }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ncclComm_t get() const { return comm_; }

 private:
  ncclComm_t comm_ = nullptr;
};

void exchange(ncclComm_t comm, const RankInfo& r, const void* send, void* recv, size_t bytes, cudaStream_t s) {
  FARM_CHECK_NCCL(ncclGroupStart());
  FARM_CHECK_NCCL(ncclSend(send, bytes, ncclUint8, (r.rank + 1) % r.size, comm, s));
  FARM_CHECK_NCCL(ncclRecv(recv, bytes, ncclUint8, (r.rank + r.size - 1) % r.size, comm, s));
  FARM_CHECK_NCCL(ncclGroupEnd());
}

#endif  // FARM_SELFTEST_NCCL

}  // namespace

#if FARM_SELFTEST_NCCL

RankInfo start_ranks(int* argc, char*** argv) {
  RankInfo r;
  r.host = host_name();
  if (!launched_by_mpirun()) return r;
  FARM_CHECK_MPI(MPI_Init(argc, argv));
  r.mpi = true;
  FARM_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &r.rank));
  FARM_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &r.size));
  MPI_Comm node;
  FARM_CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r.rank, MPI_INFO_NULL, &node));
  FARM_CHECK_MPI(MPI_Comm_rank(node, &r.local_rank));
  FARM_CHECK_MPI(MPI_Comm_size(node, &r.local_size));
  FARM_CHECK_MPI(MPI_Comm_free(&node));
  return r;
}

bool all_ranks_ok(const RankInfo& r, bool ok) {
  if (!r.mpi) return ok;
  int mine = ok ? 1 : 0, all = 0;
  FARM_CHECK_MPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
  return all != 0;
}

void finish_ranks(const RankInfo& r) {
  if (r.mpi) MPI_Finalize();
}

NcclCheck check_nccl_send_recv(const RankInfo& r, size_t bytes, int iterations) {
  NcclCheck out;
  if (r.size < 2) {
    out.report = r.mpi ? "NCCL send/recv: skipped (1 rank; run under mpirun -np 2 or more to check it)"
                       : "NCCL send/recv: skipped (1 rank, not started by mpirun; run under mpirun -np 2 or more)";
    return out;
  }
  int devices = 0;
  FARM_CHECK_CUDA(cudaGetDeviceCount(&devices));
  // Ranks sharing a node must have a GPU each: NCCL rejects two ranks per GPU.
  int crowded = r.local_size > devices ? 1 : 0, any_crowded = 0;
  FARM_CHECK_MPI(MPI_Allreduce(&crowded, &any_crowded, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
  if (any_crowded) {
    out.report = "NCCL send/recv: skipped (more ranks than GPUs on a node; NCCL needs one GPU per rank)";
    return out;
  }
  out.ran = true;
  std::vector<uint8_t> host(bytes);
  for (size_t i = 0; i < bytes; ++i) host[i] = pattern(r.rank, i);
  DeviceBuffer send(bytes), recv(bytes);
  FARM_CHECK_CUDA(cudaMemcpy(send.get(), host.data(), bytes, cudaMemcpyHostToDevice));
  FARM_CHECK_CUDA(cudaMemset(recv.get(), 0, bytes));
  cudaStream_t stream = nullptr;
  FARM_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  double gbps = 0;
  long long wrong = 0;
  {
    Communicator comm(r);
    exchange(comm.get(), r, send.get(), recv.get(), bytes, stream);
    FARM_CHECK_CUDA(cudaStreamSynchronize(stream));
    FARM_CHECK_CUDA(cudaMemcpy(host.data(), recv.get(), bytes, cudaMemcpyDeviceToHost));
    const int src = (r.rank + r.size - 1) % r.size;
    for (size_t i = 0; i < bytes; ++i) wrong += host[i] != pattern(src, i);
    const double ms = kernels::cuda::time_on_device_ms(
        [&] { exchange(comm.get(), r, send.get(), recv.get(), bytes, stream); }, 2, iterations, stream);
    gbps = static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
  }
  FARM_CHECK_CUDA(cudaStreamDestroy(stream));
  out.ok = wrong == 0;

  // Rank 0 gathers one line per rank.
  char line[768];
  int dev = 0;
  FARM_CHECK_CUDA(cudaGetDevice(&dev));
  int n = std::snprintf(line, sizeof line, "  rank %d (%s, GPU %d) <- rank %d: %zu bytes, %lld wrong, %.2f GB/s %s\n",
                        r.rank, r.host.c_str(), dev, (r.rank + r.size - 1) % r.size, bytes, wrong, gbps,
                        wrong ? "FAIL" : "pass");
  (void)n;
  std::vector<char> all(r.rank == 0 ? sizeof line * static_cast<size_t>(r.size) : 0);
  FARM_CHECK_MPI(MPI_Gather(line, sizeof line, MPI_CHAR, all.data(), sizeof line, MPI_CHAR, 0, MPI_COMM_WORLD));
  if (r.rank == 0) {
    out.report = "NCCL send/recv (ring, each rank to the next, bytes compared exactly):\n";
    for (int i = 0; i < r.size; ++i) out.report += std::string(all.data() + sizeof line * static_cast<size_t>(i));
  }
  return out;
}

#else  // no MPI + NCCL in this build

RankInfo start_ranks(int*, char***) {
  RankInfo r;
  r.host = host_name();
  if (launched_by_mpirun())
    std::fprintf(stderr, "farm selftest: started by mpirun, but this build has no MPI+NCCL: each rank runs alone\n");
  return r;
}
bool all_ranks_ok(const RankInfo&, bool ok) { return ok; }
void finish_ranks(const RankInfo&) {}
NcclCheck check_nccl_send_recv(const RankInfo&, size_t, int) {
  NcclCheck out;
  out.report = "NCCL send/recv: skipped (this build has no MPI+NCCL: FARM_MPI off or nccl.h/libnccl not found)";
  return out;
}

#endif

}  // namespace farm::launcher
