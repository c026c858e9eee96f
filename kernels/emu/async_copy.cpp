#include "kernels/emu/cuda_headers.h"
#include "kernels/emu/async_copy.h"

#include <cstring>

#include "kernels/emu/diagnostics.h"

namespace farm::emu {

namespace {

[[noreturn]] void misuse(const std::string& what, const std::source_location& loc) {
  ThreadState& t = this_thread();
  fatal(cat("farm-emu: cp.async at ", loc.file_name(), ':', loc.line(), " in ", describe(*t.block), ", ",
            describe(t), ": ", what));
}

}  // namespace

void cp_async(void* smem_dst, const void* gmem_src, int cp_size, int src_size, bool cache_global,
              const std::source_location& loc) {
  ThreadState& t = this_thread();
  if (cp_size != 4 && cp_size != 8 && cp_size != 16) misuse(cat("cp_size ", cp_size, " is not 4, 8 or 16"), loc);
  if (cache_global && cp_size != 16) misuse(cat(".cg takes 16 bytes only, got ", cp_size), loc);
  if (src_size < 0 || src_size > cp_size) misuse(cat("src_size ", src_size, " outside [0, ", cp_size, "]"), loc);
  const auto dst_addr = reinterpret_cast<uintptr_t>(smem_dst), src_addr = reinterpret_cast<uintptr_t>(gmem_src);
  if (dst_addr % cp_size || src_addr % cp_size)
    misuse(cat("shared address 0x", std::hex, dst_addr, " or global address 0x", src_addr, std::dec,
               " not aligned to cp_size ", cp_size, " (required on the GPU)"),
           loc);
  PendingCopy c;
  c.dst = static_cast<unsigned char*>(smem_dst);
  c.size = static_cast<unsigned>(cp_size);
  c.group = t.async_groups_committed;
  if (src_size > 0) std::memcpy(c.bytes, gmem_src, static_cast<size_t>(src_size));
  // Undefined until the wait: poisoned, so a thread still reading the old
  // contents (a buffer refilled without a barrier) sees the hazard.
  std::memset(smem_dst, 0xFF, static_cast<size_t>(cp_size));
  t.async_copies.push_back(c);
}

void cp_async_commit_group() { ++this_thread().async_groups_committed; }

void cp_async_wait_group(int pending, const std::source_location& loc) {
  ThreadState& t = this_thread();
  if (pending < 0) misuse(cat("cp.async.wait_group ", pending, " (must be >= 0)"), loc);
  // Groups 0 .. committed-1 exist; the newest `pending` may stay in flight.
  const int64_t land_below = static_cast<int64_t>(t.async_groups_committed) - pending;
  size_t n = 0;
  while (n < t.async_copies.size() && static_cast<int64_t>(t.async_copies[n].group) < land_below) {
    const PendingCopy& c = t.async_copies[n++];
    std::memcpy(c.dst, c.bytes, c.size);
  }
  t.async_copies.erase(t.async_copies.begin(), t.async_copies.begin() + static_cast<std::ptrdiff_t>(n));
}

void cp_async_wait_all() {
  cp_async_commit_group();
  cp_async_wait_group(0);
}

int cp_async_pending() { return static_cast<int>(this_thread().async_copies.size()); }

}  // namespace farm::emu
