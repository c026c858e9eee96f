// The CUDA toolkit's host headers, compiled by g++. The keyword macros must
// exist before them: the headers keep a definition they find, and would
// otherwise expand __device__ etc. to attributes g++ does not know.
#pragma once

#define FARM_EMU 1

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __launch_bounds__(...)
// One copy per worker thread; all fibers of a block run on one worker.
#define __shared__ static thread_local

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
