// invoke_linear on a GPU: cublasGemmEx (fp16/bf16 in, fp32 compute, fp32
// out into a workspace), then an epilogue kernel adds bias and residual and
// rounds to T once. nvcc build only (kernels_cuda).
//
// Batch invariance: cuBLAS picks its algorithm (and split-K) from the shape,
// so it is called once per sample with M = rows, never with M = batch·rows.
#include "kernels/emu/cuda_compat.h"

#include <cublas_v2.h>

#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <map>
#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/linear.h"

namespace {

using farm::kernels::cuda::DType;
using farm::kernels::cuda::LinearParams;
using farm::kernels::cuda_device::from_f32;
using farm::kernels::cuda_device::to_f32;

#define FARM_CHECK_CUBLAS(call)                                                                       \
  do {                                                                                                \
    const cublasStatus_t farm_st_ = (call);                                                           \
    if (farm_st_ != CUBLAS_STATUS_SUCCESS) {                                                          \
      std::fprintf(stderr, "%s:%d: cuBLAS error %d in %s\n", __FILE__, __LINE__, int(farm_st_), #call); \
      std::abort();                                                                                   \
    }                                                                                                 \
  } while (0)

// One handle per device, made on first use with that device current (a
// handle belongs to the device it was created on). The call sets the stream.
// The first use on a device also keeps that device's stream-ordered memory
// pool from returning memory at every synchronisation, so the fp32
// workspace below is a pooled allocation, not a cudaMalloc, in steady state.
cublasHandle_t handle() {
  static std::mutex m;
  static std::map<int, cublasHandle_t> handles;
  int device = 0;
  FARM_CHECK_CUDA(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(m);
  cublasHandle_t& h = handles[device];
  if (!h) {
    FARM_CHECK_CUBLAS(cublasCreate(&h));
    cudaMemPool_t pool = nullptr;
    FARM_CHECK_CUDA(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep = UINT64_MAX;
    FARM_CHECK_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  }
  return h;
}

template <class T>
__global__ void linear_epilogue_kernel(int64_t m, int64_t n, const float* acc, const T* bias, const T* residual,
                                       T* y) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < m * n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = acc[i];
    if (bias) v += to_f32(bias[i % n]);
    if (residual) v += to_f32(residual[i]);
    y[i] = from_f32<T>(v);
  }
}

template <class T>
void epilogue(const LinearParams& p, const float* acc, cudaStream_t stream) {
  const int64_t total = p.batch * p.rows * p.out;
  const int64_t blocks = (total + 255) / 256;
  auto* kernel = &linear_epilogue_kernel<T>;
  FARM_LAUNCH(kernel, dim3(static_cast<unsigned>(blocks < 4096 ? blocks : 4096)), dim3(256), 0, stream,
              p.batch * p.rows, p.out, acc, static_cast<const T*>(p.bias), static_cast<const T*>(p.residual),
              static_cast<T*>(p.y));
  FARM_CHECK_LAUNCH();
}

}  // namespace

FARM_CUDA_NAMESPACE_BEGIN

void invoke_linear(const LinearParams& p, cudaStream_t stream) {
  if (p.batch * p.rows * p.out == 0) return;
  const cudaDataType_t in_type = p.dtype == DType::f16 ? CUDA_R_16F : CUDA_R_16BF;
  const size_t elem = 2;
  float* acc = nullptr;
  FARM_CHECK_CUDA(cudaMallocAsync(reinterpret_cast<void**>(&acc), sizeof(float) * p.batch * p.rows * p.out, stream));
  cublasHandle_t h = handle();
  FARM_CHECK_CUBLAS(cublasSetStream(h, stream));
  const float one = 1.0f, zero = 0.0f;
  // Column-major view: acc^T[out, rows] = (w[out, in] as col-major [in, out])^T · x^T[in, rows].
  for (int64_t b = 0; b < p.batch; ++b) {
    const char* xb = static_cast<const char*>(p.x) + b * p.rows * p.in * elem;
    FARM_CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(p.out), static_cast<int>(p.rows),
                                   static_cast<int>(p.in), &one, p.w, in_type, static_cast<int>(p.in), xb, in_type,
                                   static_cast<int>(p.in), &zero, acc + b * p.rows * p.out, CUDA_R_32F,
                                   static_cast<int>(p.out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  if (p.dtype == DType::f16)
    epilogue<__half>(p, acc, stream);
  else
    epilogue<__nv_bfloat16>(p, acc, stream);
  FARM_CHECK_CUDA(cudaFreeAsync(acc, stream));
}

FARM_CUDA_NAMESPACE_END
