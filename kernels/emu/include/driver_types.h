// The emulator's own driver_types.h: the CUDA runtime's types and flags that
// kernels/emu/runtime.cpp implements and the emulated sources use, with the
// toolkit's names and enumerator values (so error numbers print the same).
// Part of kernels/emu/include, which stands in for the toolkit's headers in
// every emulated target; nothing here comes from an installed toolkit.
#pragma once

#include "farm_emu_headers.h"

#include <cstddef>

// clang-format off
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
// clang-format on

#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02

// Opaque handles, as in the toolkit; runtime.cpp defines the structs.
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

// The fields the emulator fills in (runtime.cpp) and its users read; the
// toolkit's struct has many more, at other offsets: code must not depend on
// the layout.
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
};
