// cp.async (sm_80+) for kernels that build with nvcc and with the SIMT
// emulator: global -> shared copies that bypass registers, in commit groups,
// so a kernel can load the next tile while it computes on this one.
//
//   cp_async<16>(smem, gmem)          cp.async.cg.shared.global (L2 only), 16 B
//   cp_async<4 or 8>(smem, gmem)      cp.async.ca.shared.global, 4/8 B
//   cp_async_zfill(smem, gmem, n)     16 B, reads n in [0, 16] bytes, zero fills the
//                                     rest (tile edges and padding without a branch
//                                     around the copy; n = 0 reads nothing)
//   cp_async_commit()                 cp.async.commit_group
//   cp_async_wait<N>()                cp.async.wait_group N: all but the newest N
//                                     committed groups of this thread have landed
//   cp_async_wait_all()               cp.async.wait_all
//
// A wait covers only the calling thread's copies: other threads see them
// after the wait *and* a __syncthreads (or __syncwarp for the warp). Pointers
// aligned to the copy size. Under the emulator a copy lands only at the wait
// that covers it, so reading before the wait sees stale shared memory
// (kernels/emu/async_copy.h).
// Include after kernels/emu/cuda_compat.h.
#pragma once

namespace farm::kernels::cuda_device {

#if defined(__CUDACC__)

template <int kBytes>
__device__ __forceinline__ void cp_async(void* smem_dst, const void* gmem_src) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  if constexpr (kBytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(gmem_src) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(dst), "l"(gmem_src), "n"(kBytes) : "memory");
}

__device__ __forceinline__ void cp_async_zfill(void* smem_dst, const void* gmem_src, int src_bytes) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem_src), "r"(src_bytes)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

#else  // the SIMT emulator

template <int kBytes>
inline void cp_async(void* smem_dst, const void* gmem_src,
                     const std::source_location& loc = std::source_location::current()) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
  ::farm::emu::cp_async(smem_dst, gmem_src, kBytes, kBytes, kBytes == 16, loc);
}

inline void cp_async_zfill(void* smem_dst, const void* gmem_src, int src_bytes,
                           const std::source_location& loc = std::source_location::current()) {
  ::farm::emu::cp_async(smem_dst, gmem_src, 16, src_bytes, true, loc);
}

inline void cp_async_commit() { ::farm::emu::cp_async_commit_group(); }

template <int N>
inline void cp_async_wait(const std::source_location& loc = std::source_location::current()) {
  ::farm::emu::cp_async_wait_group(N, loc);
}

inline void cp_async_wait_all() { ::farm::emu::cp_async_wait_all(); }

#endif

}  // namespace farm::kernels::cuda_device
