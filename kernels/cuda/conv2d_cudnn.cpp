// cuDNN legacy convolution API (still in cuDNN 9): descriptors per call (a
// few microseconds against milliseconds of SD-sized convolutions), one handle
// and a grow-only workspace per host thread.
#include "kernels/cuda/conv2d_cudnn.h"

#include <string>

#include "kernels/cuda/cuda_check.h"

#if FARM_HAVE_CUDNN
#include <cudnn.h>

#include <cstdio>
#include <cstdlib>
#endif

FARM_CUDA_NAMESPACE_BEGIN

#if !FARM_HAVE_CUDNN

bool cudnn_built() { return false; }
std::string cudnn_description() { return "cuDNN not built in (cudnn.h/libcudnn not found at configure time)"; }
std::string invoke_conv2d_cudnn(const Conv2dParams&, cudaStream_t) { return cudnn_description(); }

#else

namespace {

[[noreturn]] void cudnn_failed(cudnnStatus_t s, const char* stmt, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: cuDNN error %s in %s\n", file, line, cudnnGetErrorString(s), stmt);
  std::abort();
}

#define FARM_CHECK_CUDNN(call)                                     \
  do {                                                             \
    const cudnnStatus_t farm_cudnn_st_ = (call);                   \
    if (farm_cudnn_st_ != CUDNN_STATUS_SUCCESS)                    \
      cudnn_failed(farm_cudnn_st_, #call, __FILE__, __LINE__);     \
  } while (0)

// One cuDNN handle and workspace per host thread (a handle is not thread-safe).
class CudnnThreadState {
 public:
  CudnnThreadState() { FARM_CHECK_CUDNN(cudnnCreate(&handle_)); }
  ~CudnnThreadState() {
    if (workspace_) cudaFree(workspace_);
    cudnnDestroy(handle_);
  }
  CudnnThreadState(const CudnnThreadState&) = delete;
  CudnnThreadState& operator=(const CudnnThreadState&) = delete;
  cudnnHandle_t handle() const { return handle_; }
  void* workspace(size_t bytes) {
    if (bytes > bytes_) {
      // The previous workspace may still be in use by queued work on any stream.
      FARM_CHECK_CUDA(cudaDeviceSynchronize());
      if (workspace_) FARM_CHECK_CUDA(cudaFree(workspace_));
      FARM_CHECK_CUDA(cudaMalloc(&workspace_, bytes));
      bytes_ = bytes;
    }
    return workspace_;
  }

 private:
  cudnnHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t bytes_ = 0;
};

CudnnThreadState& thread_state() {
  thread_local CudnnThreadState s;
  return s;
}

// RAII owners of the descriptors.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(cudnnDataType_t t, int64_t n, int64_t c, int64_t h, int64_t w) {
    FARM_CHECK_CUDNN(cudnnCreateTensorDescriptor(&d));
    FARM_CHECK_CUDNN(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, t, static_cast<int>(n), static_cast<int>(c),
                                                static_cast<int>(h), static_cast<int>(w)));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  // w[Cout, k, k, Cin] is cuDNN's NHWC filter layout (K, R, S, C).
  FilterDesc(cudnnDataType_t t, int64_t k_out, int64_t c_in, int kernel) {
    FARM_CHECK_CUDNN(cudnnCreateFilterDescriptor(&d));
    FARM_CHECK_CUDNN(cudnnSetFilter4dDescriptor(d, t, CUDNN_TENSOR_NHWC, static_cast<int>(k_out),
                                                static_cast<int>(c_in), kernel, kernel));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(int pad, int stride) {
    FARM_CHECK_CUDNN(cudnnCreateConvolutionDescriptor(&d));
    // fp32 accumulation, as the hand-written kernel; tensor cores without
    // down-conversion of fp32 data (there is none here).
    FARM_CHECK_CUDNN(cudnnSetConvolution2dDescriptor(d, pad, pad, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT));
    FARM_CHECK_CUDNN(cudnnSetConvolutionMathType(d, CUDNN_TENSOR_OP_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

struct ActivationDesc {
  cudnnActivationDescriptor_t d = nullptr;
  ActivationDesc() {
    FARM_CHECK_CUDNN(cudnnCreateActivationDescriptor(&d));
    FARM_CHECK_CUDNN(cudnnSetActivationDescriptor(d, CUDNN_ACTIVATION_IDENTITY, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  }
  ~ActivationDesc() { cudnnDestroyActivationDescriptor(d); }
  ActivationDesc(const ActivationDesc&) = delete;
  ActivationDesc& operator=(const ActivationDesc&) = delete;
};

// cuDNN 9 numbers its statuses by family: 2xxx bad parameter, 3xxx not
// supported (shape, data type, layout, missing sub-library...). A bad
// parameter other than a null or misaligned pointer (our bugs) means "this
// configuration is not one cuDNN takes".
bool unsupported(cudnnStatus_t s) {
  const int v = static_cast<int>(s);
  if (v >= 3000 && v < 4000) return true;
  return v >= 2000 && v < 3000 && s != CUDNN_STATUS_BAD_PARAM_NULL_POINTER &&
         s != CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER;
}

}  // namespace

bool cudnn_built() { return true; }

std::string cudnn_description() {
  return "cuDNN " + std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." +
         std::to_string(CUDNN_PATCHLEVEL) + " (runtime " + std::to_string(cudnnGetVersion()) + ")";
}

std::string invoke_conv2d_cudnn(const Conv2dParams& p, cudaStream_t stream) {
  CudnnThreadState& st = thread_state();
  cudnnHandle_t h = st.handle();
  FARM_CHECK_CUDNN(cudnnSetStream(h, stream));
  const cudnnDataType_t t = p.dtype == DType::f16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  const TensorDesc x(t, p.batch, p.in_c, p.in_h, p.in_w);
  const TensorDesc y(t, p.batch, p.out_c, p.out_h(), p.out_w());
  const TensorDesc b(t, 1, p.out_c, 1, 1);
  const FilterDesc w(t, p.out_c, p.in_c, p.kernel);
  const ConvDesc conv(p.pad, p.stride);
  const float one = 1.0f, zero = 0.0f;

  // Fused path: y = conv(x) + alpha2·z + bias. cuDNN runs the identity
  // activation only with IMPLICIT_PRECOMP_GEMM.
  if (p.bias) {
    const cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    size_t ws = 0;
    cudnnStatus_t s = cudnnGetConvolutionForwardWorkspaceSize(h, x.d, w.d, conv.d, y.d, algo, &ws);
    if (s == CUDNN_STATUS_SUCCESS) {
      const ActivationDesc act;
      const void* z = p.residual ? p.residual : p.y;
      const float alpha2 = p.residual ? 1.0f : 0.0f;
      s = cudnnConvolutionBiasActivationForward(h, &one, x.d, p.x, w.d, p.w, conv.d, algo, st.workspace(ws), ws,
                                                &alpha2, y.d, z, b.d, p.bias, act.d, y.d, p.y);
      if (s == CUDNN_STATUS_SUCCESS) return "";
    }
    if (!unsupported(s)) cudnn_failed(s, "cudnnConvolutionBiasActivationForward", __FILE__, __LINE__);
  }

  // Unfused path: the heuristics' first algorithm that is supported.
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int found = 0;
  const cudnnStatus_t hs =
      cudnnGetConvolutionForwardAlgorithm_v7(h, x.d, w.d, conv.d, y.d, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf);
  if (unsupported(hs))
    return std::string("cuDNN heuristics reject this ") + dtype_name(p.dtype) + " convolution: " +
           cudnnGetErrorString(hs);
  FARM_CHECK_CUDNN(hs);
  int pick = -1;
  for (int i = 0; i < found && pick < 0; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) pick = i;
  if (pick < 0)
    return std::string("cuDNN has no forward algorithm for this ") + dtype_name(p.dtype) + " NHWC convolution";
  const size_t ws = perf[pick].memory;
  if (p.residual && p.residual != p.y) {
    const size_t y_bytes = static_cast<size_t>(p.batch * p.out_h() * p.out_w() * p.out_c) * 2;
    FARM_CHECK_CUDA(cudaMemcpyAsync(p.y, p.residual, y_bytes, cudaMemcpyDeviceToDevice, stream));
  }
  const cudnnStatus_t s = cudnnConvolutionForward(h, &one, x.d, p.x, w.d, p.w, conv.d, perf[pick].algo,
                                                  st.workspace(ws), ws, p.residual ? &one : &zero, y.d, p.y);
  if (unsupported(s))
    return std::string("cuDNN cannot run this ") + dtype_name(p.dtype) + " convolution: " + cudnnGetErrorString(s);
  FARM_CHECK_CUDNN(s);
  if (p.bias) FARM_CHECK_CUDNN(cudnnAddTensor(h, &one, b.d, p.bias, &one, y.d, p.y));
  return "";
}

#endif  // FARM_HAVE_CUDNN

FARM_CUDA_NAMESPACE_END
