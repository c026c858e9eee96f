// The emulator's own nccl.h: the subset of NCCL's API that farm uses, with
// NCCL's names, types, values and semantics, carried over MPI between the
// ranks of an emulated build (library farm_emu_nccl, kernels/emu/nccl).
// "Device memory" is host memory there and stream work has completed when a
// call returns, so:
//   ncclSend  copies the buffer and posts it at once; it never blocks.
//   ncclRecv  blocks the host until the matching bytes have arrived.
//   Inside ncclGroupStart/End nothing blocks; ncclGroupEnd runs the group's
//   communicator inits, then posts every send, then completes the receives.
// See kernels/emu/nccl/README.md for the tag scheme and the limits.
//
// Declarations and values mirror NCCL 2.28's nccl.h; what is not declared
// here is not implemented (a source that needs more fails to compile: add it,
// with NCCL's semantics).
#pragma once

#if defined(NCCL_H_)
#error \
    "kernels/emu/nccl/include: NCCL's own nccl.h is on this file's include path too; emulated targets must use only the shim's"
#endif
#define FARM_EMU_NCCL 1

#include <cuda_runtime_api.h>  // the emulator's: cudaStream_t

#include <climits>
#include <cstddef>

// The API level mirrored, so version checks in user code take the 2.28 path.
#define NCCL_MAJOR 2
#define NCCL_MINOR 28
#define NCCL_PATCH 9
#define NCCL_SUFFIX "farm-emu"
#define NCCL_VERSION_CODE 22809
#define NCCL_VERSION(X, Y, Z) (((X) <= 2 && (Y) <= 8) ? (X)*1000 + (Y)*100 + (Z) : (X)*10000 + (Y)*100 + (Z))

extern "C" {

typedef struct ncclComm* ncclComm_t;
#define NCCL_COMM_NULL NULL

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
  ncclNumResults = 8
} ncclResult_t;

typedef enum {
  ncclInt8 = 0,
  ncclChar = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclInt = 2,
  ncclUint32 = 3,
  ncclInt64 = 4,
  ncclUint64 = 5,
  ncclFloat16 = 6,
  ncclHalf = 6,
  ncclFloat32 = 7,
  ncclFloat = 7,
  ncclFloat64 = 8,
  ncclDouble = 8,
  ncclBfloat16 = 9,
  ncclFloat8e4m3 = 10,
  ncclFloat8e5m2 = 11,
  ncclNumTypes = 12
} ncclDataType_t;

ncclResult_t ncclGetVersion(int* version);

// An id names its creator (world rank) and a per-process serial number; the
// creator must be one of the communicator's ranks (NCCL does not require it).
ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId);
// One rank of a communicator per process. Blocks until every rank joined,
// except inside a group: then *comm is set at once and ncclGroupEnd completes it.
ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank);
// Waits until every send posted on comm has been received, then frees it.
ncclResult_t ncclCommDestroy(ncclComm_t comm);
// Frees comm without waiting: sends nobody received are given up.
ncclResult_t ncclCommAbort(ncclComm_t comm);

const char* ncclGetErrorString(ncclResult_t result);
// The calling thread's last error message ("" if none); comm is unused, as in NCCL.
const char* ncclGetLastError(ncclComm_t comm);
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError);
ncclResult_t ncclCommCount(const ncclComm_t comm, int* count);
ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank);

ncclResult_t ncclSend(const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t stream);
ncclResult_t ncclRecv(void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t stream);

ncclResult_t ncclGroupStart();
ncclResult_t ncclGroupEnd();

}  // extern "C"
