// Bug checks for kernels/, which may include nothing from farm/ (the layer
// table in ARCHITECTURE.md). Like FARM_ASSERT they stay on in release builds.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FARM_KERNEL_CHECK(cond, msg)                                                           \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "%s:%d: kernel check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   msg);                                                                       \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)
