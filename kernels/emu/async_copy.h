// cp.async (sm_80): asynchronous global -> shared copies, as PTX defines them.
//   cp.async.ca/cg.shared.global [dst], [src], cp_size[, src_size]
//   cp.async.commit_group, cp.async.wait_group N, cp.async.wait_all
// Kernels reach these through kernels/cuda/async_copy.cuh (inline PTX under
// nvcc, these functions under the emulator).
//
// Faithful enough to catch the bugs that matter. On the GPU the destination
// is undefined from the issue until a wait that covers the copy; here it is
// filled with 0xFF bytes (NaN in fp32/fp16/bf16, -1 in ints) at the issue and
// gets the data only when its thread runs a wait_group that covers its group
// (never at commit or at __syncthreads). So:
//  * a read before the wait (missing wait_group, or a wait for the wrong
//    group) sees 0xFF bytes;
//  * refilling a buffer other threads still read (no barrier between their
//    last read and the issue) shows them 0xFF bytes, in forward or reverse
//    thread order;
//  * a store into a destination with a copy in flight is overwritten when the
//    copy lands.
// The source is read at issue, so AddressSanitizer reports an out-of-bounds
// source (or destination) at the issuing line. Each thread has its own
// groups: a wait covers the calling thread's copies only, as on the GPU.
#pragma once

#include <source_location>

namespace farm::emu {

// cp_size 4, 8 or 16 bytes (16 only with cache_global, as .cg requires);
// src_size in [0, cp_size]: bytes read from src, the rest of dst zero filled.
// dst and src must be cp_size aligned.
void cp_async(void* smem_dst, const void* gmem_src, int cp_size, int src_size, bool cache_global,
              const std::source_location& loc = std::source_location::current());
void cp_async_commit_group();
// Lands every copy of this thread's committed groups except the newest
// `pending` ones. Copies not yet committed are not waited for (PTX semantics).
void cp_async_wait_group(int pending, const std::source_location& loc = std::source_location::current());
// cp.async.wait_all: commit_group then wait_group 0.
void cp_async_wait_all();

// In-flight copies of the calling thread (tests).
int cp_async_pending();

}  // namespace farm::emu
