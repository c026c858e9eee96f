// The CUDA runtime subset as synchronous host operations. Device memory is
// host memory allocated at its exact size (so AddressSanitizer sees
// out-of-bounds reads); streams and events are tags; every call completes
// before it returns.
#include "kernels/emu/cuda_headers.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "kernels/emu/counters.h"
#include "kernels/emu/options.h"
#include "kernels/emu/runtime_state.h"
#include "kernels/emu/thread_state.h"

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
};

namespace farm::emu {

namespace {
thread_local cudaError_t g_last_error = cudaSuccess;
std::mutex g_attr_mutex;
std::map<const void*, size_t> g_smem_opt_in;
int g_device = 0;
std::mutex g_count_mutex;
RuntimeCounters g_counts;

void count(int64_t RuntimeCounters::*field, int64_t n = 1) {
  std::lock_guard<std::mutex> lock(g_count_mutex);
  g_counts.*field += n;
}

// Emulated devices: FARM_EMU_DEVICES (default 8), so each rank of an emulated
// multi-GPU run can own one, as on a node with a GPU per rank.
int device_count() {
  static const int n = [] {
    const char* v = std::getenv("FARM_EMU_DEVICES");
    return v ? std::max(1, std::atoi(v)) : 8;
  }();
  return n;
}

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) g_last_error = e;
  return e;
}
}  // namespace

Options& options() {
  static Options o = [] {
    Options r;
#if defined(__SANITIZE_ADDRESS__)
    r.stack_bytes = 256 * 1024;  // ASan redzones make frames larger
#endif
    if (const char* v = std::getenv("FARM_EMU_WORKERS")) r.workers = std::max(1, std::atoi(v));
    if (const char* v = std::getenv("FARM_EMU_REVERSE")) r.reverse = std::atoi(v) != 0;
    if (const char* v = std::getenv("FARM_EMU_STACK_KB")) r.stack_bytes = static_cast<size_t>(std::max(16, std::atoi(v))) * 1024;
    if (const char* v = std::getenv("FARM_EMU_TIMEOUT_S")) r.timeout_s = std::max(0.1, std::atof(v));
    return r;
  }();
  return o;
}

RuntimeCounters runtime_counters() {
  std::lock_guard<std::mutex> lock(g_count_mutex);
  return g_counts;
}

namespace detail {
void count_launch() { count(&RuntimeCounters::launches); }
void set_last_error(cudaError_t e) { g_last_error = e; }
size_t max_dynamic_smem(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  auto it = g_smem_opt_in.find(kernel);
  return it == g_smem_opt_in.end() ? kDefaultDynamicSmem : it->second;
}
}  // namespace detail

}  // namespace farm::emu

using farm::emu::count;
using farm::emu::record;
using farm::emu::RuntimeCounters;

namespace {
void count_copy(size_t bytes, enum cudaMemcpyKind kind) {
  const auto n = static_cast<int64_t>(bytes);
  if (kind == cudaMemcpyHostToDevice) count(&RuntimeCounters::h2d_bytes, n);
  if (kind == cudaMemcpyDeviceToHost) count(&RuntimeCounters::d2h_bytes, n);
  if (kind == cudaMemcpyDeviceToDevice) count(&RuntimeCounters::d2d_bytes, n);
}

cudaError_t aligned_alloc256(void** ptr, size_t size) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  // cudaMalloc returns 256-byte aligned memory; kernels may rely on it.
  if (posix_memalign(ptr, 256, size) != 0) return record(cudaErrorMemoryAllocation);
  return cudaSuccess;
}
}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  count(&RuntimeCounters::device_allocations);
  return aligned_alloc256(ptr, size);
}
cudaError_t cudaFree(void* ptr) {
  if (ptr) count(&RuntimeCounters::device_frees);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t size) {
  count(&RuntimeCounters::host_allocations);
  return aligned_alloc256(ptr, size);
}
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t) { return cudaMalloc(ptr, size); }
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) { return cudaFree(ptr); }

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  if (count && (!dst || !src)) return record(cudaErrorInvalidValue);
  count_copy(count, kind);
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         enum cudaMemcpyKind) {
  if (width > dpitch || width > spitch) return record(cudaErrorInvalidPitchValue);
  for (size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count && !ptr) return record(cudaErrorInvalidValue);
  if (count) std::memset(ptr, value, count);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) { return cudaMemset(ptr, value, count); }
cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t count, size_t offset, enum cudaMemcpyKind) {
  std::memcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t count, size_t offset, enum cudaMemcpyKind) {
  std::memcpy(dst, static_cast<const char*>(symbol) + offset, count);
  return cudaSuccess;
}
// FARM_EMU_MEMORY_MB: the emulated device's memory (8 GiB unless set), so a
// test can give it less than a job needs.
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  const char* mb = std::getenv("FARM_EMU_MEMORY_MB");
  *total_bytes = mb ? static_cast<size_t>(std::max(1, std::atoi(mb))) << 20 : size_t{8} << 30;
  *free_bytes = *total_bytes;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* s) {
  *s = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  *s = new CUstream_st{flags};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  count(&RuntimeCounters::stream_syncs);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return record(cudaErrorInvalidResourceHandle);
  e->when = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  count(&RuntimeCounters::stream_syncs);
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return record(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = farm::emu::g_last_error;
  farm::emu::g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return farm::emu::g_last_error; }
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaError (not named by the emulator)";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "unknown error (not named by the emulator)";
  }
}

cudaError_t cudaDeviceSynchronize(void) {
  count(&RuntimeCounters::device_syncs);
  return cudaSuccess;
}
cudaError_t cudaDeviceReset(void) { return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = farm::emu::device_count();
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = farm::emu::g_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= farm::emu::device_count()) return record(cudaErrorInvalidDevice);
  farm::emu::g_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* p, int device) {
  if (device < 0 || device >= farm::emu::device_count()) return record(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::strncpy(p->name, "farm SIMT emulator (CPU)", sizeof(p->name) - 1);
  p->totalGlobalMem = size_t{8} << 30;
  p->sharedMemPerBlock = farm::emu::detail::kDefaultDynamicSmem;
  p->sharedMemPerBlockOptin = farm::emu::detail::kMaxOptInSmem;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->major = 8;
  p->minor = 0;
  p->multiProcessorCount = farm::emu::options().workers;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  if (device < 0 || device >= farm::emu::device_count()) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = farm::emu::options().workers; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 8; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(farm::emu::detail::kDefaultDynamicSmem); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(farm::emu::detail::kMaxOptInSmem); break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;  // hints: accepted, ignored
  if (value < 0 || static_cast<size_t>(value) > farm::emu::detail::kMaxOptInSmem) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(farm::emu::g_attr_mutex);
  farm::emu::g_smem_opt_in[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

}  // extern "C"

long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
