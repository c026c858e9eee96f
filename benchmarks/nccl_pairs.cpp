// NCCL send/recv bandwidth between every ordered pair (src, dst) of this
// node's visible GPUs, nccl-tests style (issue 13, item 6): what a pipeline
// edge of `farm render --transport nccl` can move, to set beside the device
// profile's link figure (partition/device_profile.cpp) and the plan's bytes.
//
// One process drives all GPUs: ncclCommInitAll makes one communicator per
// device in one clique, and each exchange is a group (ncclSend on src's
// communicator, ncclRecv on dst's), as NCCL requires when one thread drives
// several devices. No MPI: on one node there is nothing to launch.
//
// Per pair and size: one checked exchange (the received bytes compared with
// the sender's pattern, exactly), warm-up exchanges, then timed ones between
// two CUDA events on the receiving GPU's stream; the sender's stream waits
// for the start event and the receiver's for the sender's last send, so the
// interval covers both sides. Prints the table (nccl_pairs_table.h) and
// writes it as JSON with --json. Fewer than 2 GPUs: prints why, writes
// "skipped", exits 0. Exit 1 when any received byte is wrong.
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/nccl_pairs_table.h"
#include "farm/core/error.h"
#include "kernels/cuda/cuda_check.h"

namespace farm::bench {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

[[noreturn]] void nccl_failed(ncclResult_t r, const char* stmt, const char* file, int line) {
  const char* last = ncclGetLastError(nullptr);
  std::fprintf(stderr, "%s:%d: on %s: NCCL error %s%s%s in %s\n", file, line, host_name().c_str(),
               ncclGetErrorString(r), last && *last ? ": " : "", last ? last : "", stmt);
  std::abort();
}

#define FARM_CHECK_NCCL(call)                                                                 \
  do {                                                                                        \
    const ncclResult_t farm_nccl_r_ = (call);                                                 \
    if (farm_nccl_r_ != ncclSuccess) nccl_failed(farm_nccl_r_, #call, __FILE__, __LINE__);    \
  } while (0)

// RAII owners, each remembering its device (frees and destroys run with it current).
class DeviceBuffer {
 public:
  DeviceBuffer(int device, size_t bytes) : device_(device) {
    FARM_CHECK_CUDA(cudaSetDevice(device));
    FARM_CHECK_CUDA(cudaMalloc(&p_, bytes));
  }
  ~DeviceBuffer() {
    cudaSetDevice(device_);
    cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }

 private:
  int device_;
  void* p_ = nullptr;
};

class Stream {
 public:
  explicit Stream(int device) : device_(device) {
    FARM_CHECK_CUDA(cudaSetDevice(device));
    FARM_CHECK_CUDA(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
  }
  ~Stream() {
    cudaSetDevice(device_);
    cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  int device_;
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  explicit Event(int device) : device_(device) {
    FARM_CHECK_CUDA(cudaSetDevice(device));
    FARM_CHECK_CUDA(cudaEventCreate(&e_));
  }
  ~Event() {
    cudaSetDevice(device_);
    cudaEventDestroy(e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  int device_;
  cudaEvent_t e_ = nullptr;
};

class Communicators {
 public:
  explicit Communicators(int n) : comms_(static_cast<size_t>(n)) {
    FARM_CHECK_NCCL(ncclCommInitAll(comms_.data(), n, nullptr));  // devices 0 .. n-1
  }
  ~Communicators() {
    for (auto c : comms_) ncclCommDestroy(c);
  }
  Communicators(const Communicators&) = delete;
  Communicators& operator=(const Communicators&) = delete;
  ncclComm_t operator[](int d) const { return comms_[static_cast<size_t>(d)]; }

 private:
  std::vector<ncclComm_t> comms_;
};

// Everything one GPU owns for the benchmark.
struct Gpu {
  explicit Gpu(int d, size_t bytes)
      : send(d, bytes), recv(d, bytes), stream(d), start(d), sent(d), stop(d) {}
  DeviceBuffer send, recv;
  Stream stream;
  Event start, sent, stop;
};

using Gpus = std::vector<std::unique_ptr<Gpu>>;

void exchange(const Communicators& comms, Gpus& gpu, int src, int dst, size_t bytes) {
  auto& s = *gpu[static_cast<size_t>(src)];
  auto& r = *gpu[static_cast<size_t>(dst)];
  FARM_CHECK_NCCL(ncclGroupStart());
  FARM_CHECK_NCCL(ncclSend(s.send.get(), bytes, ncclUint8, dst, comms[src], s.stream.get()));
  FARM_CHECK_NCCL(ncclRecv(r.recv.get(), bytes, ncclUint8, src, comms[dst], r.stream.get()));
  FARM_CHECK_NCCL(ncclGroupEnd());
}

// One exchange into a zeroed buffer, compared byte for byte with the pattern.
int64_t checked_exchange(const Communicators& comms, Gpus& gpu, int src, int dst, size_t bytes,
                         std::vector<uint8_t>& host) {
  auto& r = *gpu[static_cast<size_t>(dst)];
  FARM_CHECK_CUDA(cudaSetDevice(dst));
  FARM_CHECK_CUDA(cudaMemsetAsync(r.recv.get(), 0, bytes, r.stream.get()));
  exchange(comms, gpu, src, dst, bytes);
  FARM_CHECK_CUDA(cudaMemcpyAsync(host.data(), r.recv.get(), bytes, cudaMemcpyDeviceToHost, r.stream.get()));
  FARM_CHECK_CUDA(cudaStreamSynchronize(r.stream.get()));
  FARM_CHECK_CUDA(cudaSetDevice(src));
  FARM_CHECK_CUDA(cudaStreamSynchronize(gpu[static_cast<size_t>(src)]->stream.get()));
  int64_t wrong = 0;
  for (size_t i = 0; i < bytes; ++i) wrong += host[i] != pair_pattern(src, i);
  return wrong;
}

PairResult time_pair(const Communicators& comms, Gpus& gpu, int src, int dst, size_t bytes,
                     const PairOptions& o, std::vector<uint8_t>& host) {
  PairResult res{.src = src, .dst = dst, .bytes = bytes, .iters = o.iters};
  if (o.check) res.wrong = checked_exchange(comms, gpu, src, dst, bytes, host);
  for (int w = 0; w < o.warmup; ++w) exchange(comms, gpu, src, dst, bytes);
  auto& s = *gpu[static_cast<size_t>(src)];
  auto& r = *gpu[static_cast<size_t>(dst)];
  FARM_CHECK_CUDA(cudaSetDevice(dst));
  FARM_CHECK_CUDA(cudaEventRecord(r.start.get(), r.stream.get()));
  FARM_CHECK_CUDA(cudaSetDevice(src));
  FARM_CHECK_CUDA(cudaStreamWaitEvent(s.stream.get(), r.start.get(), 0));
  for (int it = 0; it < o.iters; ++it) exchange(comms, gpu, src, dst, bytes);
  FARM_CHECK_CUDA(cudaSetDevice(src));
  FARM_CHECK_CUDA(cudaEventRecord(s.sent.get(), s.stream.get()));
  FARM_CHECK_CUDA(cudaSetDevice(dst));
  FARM_CHECK_CUDA(cudaStreamWaitEvent(r.stream.get(), s.sent.get(), 0));
  FARM_CHECK_CUDA(cudaEventRecord(r.stop.get(), r.stream.get()));
  FARM_CHECK_CUDA(cudaEventSynchronize(r.stop.get()));
  float ms = 0;
  FARM_CHECK_CUDA(cudaEventElapsedTime(&ms, r.start.get(), r.stop.get()));
  res.seconds = ms / 1e3 / o.iters;
  return res;
}

void write_json(const PairOptions& o, const nlohmann::json& j) {
  if (o.json.empty()) return;
  std::ofstream out(o.json);
  out << j.dump(1) << "\n";
  if (!out) fail("--json ", o.json, ": cannot write");
}

int run(const PairOptions& o) {
  const std::string host = host_name();
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  std::string skipped;
  if (e != cudaSuccess)
    skipped = cat("no CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
  else if (n < 2)
    skipped = cat(n, " visible CUDA device", n == 1 ? "" : "s", "; pair bandwidth needs 2 or more");
  if (!skipped.empty()) {
    std::printf("# nccl_pairs on %s: skipped (%s)\n", host.c_str(), skipped.c_str());
    write_json(o, pair_report_json(host, {}, o, {}, skipped));
    return 0;
  }

  std::vector<std::string> names;
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    FARM_CHECK_CUDA(cudaGetDeviceProperties(&p, d));
    char bus[32] = {};
    FARM_CHECK_CUDA(cudaDeviceGetPCIBusId(bus, sizeof bus, d));
    names.push_back(cat(p.name, " (", bus, ")"));
  }
  std::fputs(pair_table_header(host, names, o).c_str(), stdout);
  std::fflush(stdout);

  const size_t max_bytes = o.sizes.back();
  std::vector<uint8_t> host_buf(max_bytes);
  const Communicators comms(n);
  Gpus gpu;
  for (int d = 0; d < n; ++d) {
    gpu.push_back(std::make_unique<Gpu>(d, max_bytes));
    for (size_t i = 0; i < max_bytes; ++i) host_buf[i] = pair_pattern(d, i);
    FARM_CHECK_CUDA(cudaMemcpy(gpu.back()->send.get(), host_buf.data(), max_bytes, cudaMemcpyHostToDevice));
  }

  std::vector<PairResult> results;
  for (int src = 0; src < n; ++src)
    for (int dst = 0; dst < n; ++dst) {
      if (src == dst) continue;
      for (const size_t bytes : o.sizes) {
        results.push_back(time_pair(comms, gpu, src, dst, bytes, o, host_buf));
        std::fputs(pair_table_row(results.back()).c_str(), stdout);
        std::fflush(stdout);
      }
    }
  std::fputs(pair_table_footer(results).c_str(), stdout);
  write_json(o, pair_report_json(host, names, o, results));
  for (const auto& r : results)
    if (r.wrong > 0) return 1;
  return 0;
}

}  // namespace
}  // namespace farm::bench

int main(int argc, char** argv) {
  try {
    const auto o = farm::bench::parse_pair_options(std::vector<std::string>(argv + 1, argv + argc));
    if (o.help) {
      std::fputs(farm::bench::pair_usage(argv[0]).c_str(), stdout);
      return 0;
    }
    return farm::bench::run(o);
  } catch (const farm::Error& e) {
    std::fprintf(stderr, "nccl_pairs: %s\n", e.what());
    return 2;
  }
}
