#include "farm/core/host_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace farm {
namespace {

constexpr size_t kLarge = size_t{32} << 20;  // glibc's largest mmap threshold
constexpr size_t kMaxKept = 8;

struct Block {
  void* p;
  size_t bytes;
};

struct Pool {
  std::mutex mu;
  std::vector<Block> kept;  // oldest first
  size_t reused = 0, mapped = 0;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: tensors may outlive static destructors
  return *p;
}

size_t mapped_size(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  return (bytes + kHuge - 1) / kHuge * kHuge;
}

}  // namespace

void* host_allocate(size_t bytes) {
  if (bytes < kLarge) {
    if (void* p = std::malloc(bytes ? bytes : 1)) return p;
    throw std::bad_alloc();
  }
  const size_t size = mapped_size(bytes);
  std::vector<Block> drop;
  {
    Pool& pl = pool();
    std::lock_guard<std::mutex> lock(pl.mu);
    // A kept block of the same size (in 2 MB pages): a larger one would
    // keep its unused pages resident.
    auto best = std::find_if(pl.kept.begin(), pl.kept.end(), [&](const Block& b) { return b.bytes == size; });
    if (best != pl.kept.end()) {
      void* p = best->p;
      pl.kept.erase(best);
      ++pl.reused;
      return p;
    }
    drop.swap(pl.kept);
    ++pl.mapped;
  }
  for (const Block& b : drop) ::munmap(b.p, b.bytes);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, size, MADV_HUGEPAGE);  // a hint: ignored where THP is off
  return p;
}

void host_release(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (bytes < kLarge) return std::free(p);
  Pool& pl = pool();
  Block old{nullptr, 0};
  {
    std::lock_guard<std::mutex> lock(pl.mu);
    pl.kept.push_back({p, mapped_size(bytes)});
    if (pl.kept.size() > kMaxKept) {
      old = pl.kept.front();
      pl.kept.erase(pl.kept.begin());
    }
  }
  if (old.p) ::munmap(old.p, old.bytes);
}

HostMemoryStats host_memory_stats() {
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  HostMemoryStats s;
  s.kept_blocks = pl.kept.size();
  for (const Block& b : pl.kept) s.kept_bytes += b.bytes;
  s.reused = pl.reused;
  s.mapped = pl.mapped;
  return s;
}

}  // namespace farm
