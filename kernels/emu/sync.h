// __syncthreads and the warp collectives (__shfl*_sync, votes, __syncwarp,
// match, reduce). Every call is a scheduling point: the calling fiber waits
// until its block (or its mask's lanes) arrived, and diagnostics name the
// call site from std::source_location.
#pragma once

#include <cstring>
#include <source_location>
#include <type_traits>

#include "kernels/emu/thread_state.h"

namespace farm::emu {

using Loc = std::source_location;

int block_barrier(BarrierKind kind, int predicate, const Loc& loc);
uint64_t warp_collective(const LaneOp& op, const Loc& loc);

template <class T>
uint64_t to_bits(const T& v) {
  // The toolkit's __half2 and friends are bit-copyable but not trivially
  // copyable (nvcc builds see those), hence the void* casts.
  static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, static_cast<const void*>(&v), sizeof(T));
  return bits;
}
template <class T>
T from_bits(uint64_t bits) {
  T v;
  std::memcpy(static_cast<void*>(&v), &bits, sizeof(T));
  return v;
}

template <class T>
T shuffle(const char* name, WarpOpKind kind, unsigned mask, const T& var, int arg, int width, const Loc& loc) {
  LaneOp op;
  op.kind = kind;
  op.name = name;
  op.mask = mask;
  op.arg = arg;
  op.width = width;
  op.value = to_bits(var);
  return from_bits<T>(warp_collective(op, loc));
}

inline uint64_t vote(const char* name, WarpOpKind kind, unsigned mask, uint64_t value, const Loc& loc) {
  LaneOp op;
  op.kind = kind;
  op.name = name;
  op.mask = mask;
  op.value = value;
  return warp_collective(op, loc);
}

// Which reduce kind an integer type selects for min/max.
template <class T>
constexpr WarpOpKind min_kind() {
  return std::is_signed_v<T> ? WarpOpKind::reduce_min_s : WarpOpKind::reduce_min_u;
}
template <class T>
constexpr WarpOpKind max_kind() {
  return std::is_signed_v<T> ? WarpOpKind::reduce_max_s : WarpOpKind::reduce_max_u;
}

}  // namespace farm::emu

// ---- the CUDA names ----------------------------------------------------------

inline void __syncthreads(const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  farm::emu::block_barrier(farm::emu::BarrierKind::sync, 0, loc);
}
inline int __syncthreads_count(int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::block_barrier(farm::emu::BarrierKind::count, pred, loc);
}
inline int __syncthreads_and(int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::block_barrier(farm::emu::BarrierKind::all, pred, loc);
}
inline int __syncthreads_or(int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::block_barrier(farm::emu::BarrierKind::any, pred, loc);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  farm::emu::vote("__syncwarp", farm::emu::WarpOpKind::sync, mask, 0, loc);
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
              const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::shuffle("__shfl_sync", farm::emu::WarpOpKind::shfl_idx, mask, var, src_lane, width, loc);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::shuffle("__shfl_up_sync", farm::emu::WarpOpKind::shfl_up, mask, var, static_cast<int>(delta),
                            width, loc);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::shuffle("__shfl_down_sync", farm::emu::WarpOpKind::shfl_down, mask, var,
                            static_cast<int>(delta), width, loc);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                  const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return farm::emu::shuffle("__shfl_xor_sync", farm::emu::WarpOpKind::shfl_xor, mask, var, lane_mask, width, loc);
}

inline unsigned __ballot_sync(unsigned mask, int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<unsigned>(
      farm::emu::vote("__ballot_sync", farm::emu::WarpOpKind::ballot, mask, pred != 0, loc));
}
inline int __any_sync(unsigned mask, int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<int>(farm::emu::vote("__any_sync", farm::emu::WarpOpKind::any, mask, pred != 0, loc));
}
inline int __all_sync(unsigned mask, int pred, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<int>(farm::emu::vote("__all_sync", farm::emu::WarpOpKind::all, mask, pred != 0, loc));
}
template <class T>
unsigned __match_any_sync(unsigned mask, T value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<unsigned>(
      farm::emu::vote("__match_any_sync", farm::emu::WarpOpKind::match_any, mask, farm::emu::to_bits(value), loc));
}
template <class T>
unsigned __match_all_sync(unsigned mask, T value, int* pred,
                          const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  auto r = static_cast<unsigned>(
      farm::emu::vote("__match_all_sync", farm::emu::WarpOpKind::match_all, mask, farm::emu::to_bits(value), loc));
  *pred = r != 0;
  return r;
}

template <class T>
T __reduce_add_sync(unsigned mask, T value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  static_assert(std::is_integral_v<T> && sizeof(T) == 4, "__reduce_*_sync takes int or unsigned");
  return static_cast<T>(farm::emu::vote("__reduce_add_sync", farm::emu::WarpOpKind::reduce_add, mask,
                                        static_cast<uint32_t>(value), loc));
}
template <class T>
T __reduce_min_sync(unsigned mask, T value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  static_assert(std::is_integral_v<T> && sizeof(T) == 4, "__reduce_*_sync takes int or unsigned");
  return static_cast<T>(farm::emu::vote("__reduce_min_sync", farm::emu::min_kind<T>(), mask,
                                        static_cast<uint32_t>(value), loc));
}
template <class T>
T __reduce_max_sync(unsigned mask, T value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  static_assert(std::is_integral_v<T> && sizeof(T) == 4, "__reduce_*_sync takes int or unsigned");
  return static_cast<T>(farm::emu::vote("__reduce_max_sync", farm::emu::max_kind<T>(), mask,
                                        static_cast<uint32_t>(value), loc));
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<unsigned>(farm::emu::vote("__reduce_and_sync", farm::emu::WarpOpKind::reduce_and, mask, value, loc));
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<unsigned>(farm::emu::vote("__reduce_or_sync", farm::emu::WarpOpKind::reduce_or, mask, value, loc));
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned value, const farm::emu::Loc& loc = farm::emu::Loc::current()) {
  return static_cast<unsigned>(farm::emu::vote("__reduce_xor_sync", farm::emu::WarpOpKind::reduce_xor, mask, value, loc));
}

// The lanes of this warp that have not exited (the emulator cannot know
// which lanes a divergent branch holds).
unsigned __activemask();
