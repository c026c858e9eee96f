// CUDA atomics as real host atomics: blocks may run on several worker
// threads at once, so global-memory atomics must be atomic on the host too.
// The _block and _system scopes are the same operation here.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace farm::emu::atomics {

// Compare-and-swap loop on the bits of T (2, 4 or 8 bytes).
template <class T, class F>
T update(T* addr, F f) {
  using Bits = std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
  static_assert(sizeof(T) == sizeof(Bits), "atomics work on 2, 4 or 8 bytes");
  auto* p = reinterpret_cast<Bits*>(addr);
  Bits old_bits = __atomic_load_n(p, __ATOMIC_RELAXED);
  for (;;) {
    T old;
    std::memcpy(static_cast<void*>(&old), &old_bits, sizeof(T));
    const T desired = f(old);
    Bits new_bits;
    std::memcpy(&new_bits, static_cast<const void*>(&desired), sizeof(T));
    if (__atomic_compare_exchange_n(p, &old_bits, new_bits, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
  }
}

}  // namespace farm::emu::atomics

#define FARM_EMU_ATOMIC_INT(T)                                                                    \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }         \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicMin(T* a, T v) {                                                                 \
    return farm::emu::atomics::update(a, [v](T o) { return v < o ? v : o; });                     \
  }                                                                                               \
  inline T atomicMax(T* a, T v) {                                                                 \
    return farm::emu::atomics::update(a, [v](T o) { return v > o ? v : o; });                     \
  }                                                                                               \
  inline T atomicCAS(T* a, T compare, T v) {                                                      \
    __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);       \
    return compare;                                                                               \
  }                                                                                               \
  inline T atomicAdd_block(T* a, T v) { return atomicAdd(a, v); }                                 \
  inline T atomicAdd_system(T* a, T v) { return atomicAdd(a, v); }                                \
  inline T atomicMax_block(T* a, T v) { return atomicMax(a, v); }                                 \
  inline T atomicMin_block(T* a, T v) { return atomicMin(a, v); }                                 \
  inline T atomicCAS_block(T* a, T c, T v) { return atomicCAS(a, c, v); }                         \
  inline T atomicExch_block(T* a, T v) { return atomicExch(a, v); }

FARM_EMU_ATOMIC_INT(int)
FARM_EMU_ATOMIC_INT(unsigned)
FARM_EMU_ATOMIC_INT(unsigned long long)
FARM_EMU_ATOMIC_INT(long long)
#undef FARM_EMU_ATOMIC_INT

inline unsigned short atomicCAS(unsigned short* a, unsigned short compare, unsigned short v) {
  __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return farm::emu::atomics::update(a, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  return farm::emu::atomics::update(a, [limit](unsigned o) { return (o == 0 || o > limit) ? limit : o - 1; });
}

#define FARM_EMU_ATOMIC_FLOAT(T, ADD)                                                       \
  inline T atomicAdd(T* a, T v) {                                                           \
    return farm::emu::atomics::update(a, [v](T o) { return ADD; });                         \
  }                                                                                         \
  inline T atomicAdd_block(T* a, T v) { return atomicAdd(a, v); }                           \
  inline T atomicAdd_system(T* a, T v) { return atomicAdd(a, v); }

FARM_EMU_ATOMIC_FLOAT(float, o + v)
FARM_EMU_ATOMIC_FLOAT(double, o + v)
FARM_EMU_ATOMIC_FLOAT(__half, __hadd(o, v))
FARM_EMU_ATOMIC_FLOAT(__half2, __hadd2(o, v))
FARM_EMU_ATOMIC_FLOAT(__nv_bfloat16, __hadd(o, v))
FARM_EMU_ATOMIC_FLOAT(__nv_bfloat162, __hadd2(o, v))
#undef FARM_EMU_ATOMIC_FLOAT

inline float atomicExch(float* a, float v) {
  return farm::emu::atomics::update(a, [v](float) { return v; });
}
