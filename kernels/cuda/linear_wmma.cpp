// invoke_linear for the emulated build: the wmma implicit GEMM of conv2d.cu
// is a plain GEMM when the "image" is [batch, rows, 1, in] and the filter 1x1.
// Batch invariant: each output's K loop is the same whatever the batch.
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/linear.h"

FARM_CUDA_NAMESPACE_BEGIN

void invoke_linear(const LinearParams& p, cudaStream_t stream) {
  Conv2dParams c;
  c.x = p.x;
  c.w = p.w;
  c.bias = p.bias;
  c.residual = p.residual;
  c.y = p.y;
  c.batch = p.batch;
  c.in_h = p.rows;
  c.in_w = 1;
  c.in_c = p.in;
  c.out_c = p.out;
  c.kernel = 1;
  c.stride = 1;
  c.pad = 0;
  c.dtype = p.dtype;
  invoke_conv2d(c, stream);
}

FARM_CUDA_NAMESPACE_END
