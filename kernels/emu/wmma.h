// nvcuda::wmma for the shapes m16n16k16, m32n8k16, m8n32k16 with half or bf16
// inputs and float (or half) accumulators.
//
// Every lane's fragment holds the whole tile (num_elements = rows * cols),
// not the hardware's per-lane share: code that loops over num_elements works,
// code that assumes which element a lane holds cannot be emulated.
// mma_sync is a warp collective (all 32 lanes); the product is computed once
// per warp in float with a sequential sum over k.
#pragma once

#include <cstdint>
#include <source_location>
#include <type_traits>

#include "kernels/emu/diagnostics.h"
#include "kernels/emu/sync.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class Use, int M, int N, int K>
struct tile;
template <int M, int N, int K>
struct tile<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct tile<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct tile<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

template <int M, int N, int K>
constexpr bool supported_shape() {
  return (M == 16 && N == 16 && K == 16) || (M == 32 && N == 8 && K == 16) || (M == 8 && N == 32 && K == 16);
}

inline float to_float(float v) { return v; }
inline float to_float(__half v) { return __half2float(v); }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T>
T from_float(float v);
template <>
inline float from_float<float>(float v) { return v; }
template <>
inline __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// The GPU requires a 256-bit aligned pointer and ldm a multiple of 16 bytes.
template <class T>
void check_memory(const char* what, const void* p, unsigned ldm, const std::source_location& loc) {
  const bool aligned = reinterpret_cast<uintptr_t>(p) % 32 == 0;
  const bool ldm_ok = (ldm * sizeof(T)) % 16 == 0;
  if (aligned && ldm_ok) return;
  auto& t = farm::emu::this_thread();
  farm::emu::fatal(farm::emu::cat("farm-emu: ", what, " at ", loc.file_name(), ':', loc.line(), " in ",
                                  farm::emu::describe(*t.block), ", ", farm::emu::describe(t), ": ",
                                  aligned ? "" : "pointer not 32-byte aligned; ",
                                  ldm_ok ? "" : "ldm is not a multiple of 16 bytes;", " (both required on the GPU)"));
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
 public:
  static_assert(detail::supported_shape<M, N, K>(), "farm-emu wmma: shape not emulated");
  static constexpr int rows = detail::tile<Use, M, N, K>::rows;
  static constexpr int cols = detail::tile<Use, M, N, K>::cols;
  enum { num_elements = rows * cols };
  using element_type = T;
  using storage_element_type = T;
  T x[num_elements];  // row-major [rows, cols], whatever Layout says
};

template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const T& v) {
  for (auto& e : f.x) e = v;
}
template <class Use, int M, int N, int K, class T, class Layout, class V>
  requires(!std::is_same_v<T, V>)
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const V& v) {
  fill_fragment(f, static_cast<T>(v));
}

template <class Use, int M, int N, int K, class T, class Layout>
  requires(std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>)
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm,
                      const std::source_location& loc = std::source_location::current()) {
  detail::check_memory<T>("wmma::load_matrix_sync", p, ldm, loc);
  using F = fragment<Use, M, N, K, T, Layout>;
  constexpr bool row = std::is_same_v<Layout, row_major>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = row ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K, class T>
void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout,
                      const std::source_location& loc = std::source_location::current()) {
  detail::check_memory<T>("wmma::load_matrix_sync", p, ldm, loc);
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K, class T>
void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout,
                       const std::source_location& loc = std::source_location::current()) {
  detail::check_memory<T>("wmma::store_matrix_sync", p, ldm, loc);
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}

namespace detail {

template <class FD, class FA, class FB, class FC>
struct MmaArgs {
  FD* d;
  const FA* a;
  const FB* b;
  const FC* c;
};

template <int M, int N, int K, class FD, class FA, class FB, class FC>
void mma_complete(farm::emu::ThreadState* const* lanes, unsigned /*mask*/) {
  using Args = MmaArgs<FD, FA, FB, FC>;
  const Args* first = nullptr;
  for (unsigned l = 0; l < farm::emu::kWarpSize && !first; ++l)
    if (lanes[l]) first = static_cast<const Args*>(lanes[l]->op.payload);
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = to_float(first->c->x[i * N + j]);
      for (int k = 0; k < K; ++k) s += to_float(first->a->x[i * K + k]) * to_float(first->b->x[k * N + j]);
      out[i * N + j] = s;
    }
  for (unsigned l = 0; l < farm::emu::kWarpSize; ++l) {
    if (!lanes[l]) continue;
    FD* d = static_cast<const Args*>(lanes[l]->op.payload)->d;
    for (int e = 0; e < M * N; ++e) d->x[e] = from_float<typename FD::element_type>(out[e]);
  }
}

}  // namespace detail

template <int M, int N, int K, class TA, class LA, class LB, class TC, class TD>
void mma_sync(fragment<accumulator, M, N, K, TD>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TA, LB>& b, const fragment<accumulator, M, N, K, TC>& c,
              bool /*satf: not emulated*/ = false,
              const std::source_location& loc = std::source_location::current()) {
  static_assert(std::is_same_v<TA, __half> || std::is_same_v<TA, __nv_bfloat16>,
                "farm-emu wmma: inputs must be half or __nv_bfloat16");
  static_assert(std::is_same_v<TC, float> || (std::is_same_v<TC, __half> && std::is_same_v<TA, __half>),
                "farm-emu wmma: accumulator must be float (or half with half inputs)");
  using FD = fragment<accumulator, M, N, K, TD>;
  using FA = fragment<matrix_a, M, N, K, TA, LA>;
  using FB = fragment<matrix_b, M, N, K, TA, LB>;
  using FC = fragment<accumulator, M, N, K, TC>;
  detail::MmaArgs<FD, FA, FB, FC> args{&d, &a, &b, &c};
  farm::emu::LaneOp op;
  op.kind = farm::emu::WarpOpKind::custom;
  op.name = "wmma::mma_sync";
  op.mask = 0xffffffffu;
  op.custom = &detail::mma_complete<M, N, K, FD, FA, FB, FC>;
  op.payload = &args;
  farm::emu::warp_collective(op, loc);
}

}  // namespace nvcuda::wmma
