// The emulator's kernel launcher: what FARM_LAUNCH expands to under g++.
// Launches are synchronous: the grid has finished when launch() returns.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/emu/thread_state.h"

namespace farm::emu {

// Runs every block of `launch`; sets the runtime's last error (as CUDA does)
// on an invalid configuration instead of running.
void launch_grid(const Launch& launch, const void* kernel_id);

template <class... P, class... A>
void launch(const char* name, const char* file, unsigned line, void (*kernel)(P...), dim3 grid, dim3 block,
            size_t dynamic_smem, cudaStream_t /*synchronous*/, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "FARM_LAUNCH: wrong number of kernel arguments");
  // Arguments are converted to the parameter types once, as CUDA does at the
  // launch; every thread then receives its own copy.
  struct Closure {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> params;
  };
  const Closure closure{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  Launch l;
  l.kernel = name;
  l.site = Site{file, line};
  l.grid = grid;
  l.block = block;
  l.dynamic_smem = dynamic_smem;
  l.closure = &closure;
  l.invoke = [](const void* c) {
    const auto& cl = *static_cast<const Closure*>(c);
    std::apply(cl.kernel, cl.params);
  };
  launch_grid(l, reinterpret_cast<const void*>(kernel));
}

}  // namespace farm::emu
