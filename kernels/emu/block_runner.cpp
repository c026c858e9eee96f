#include "kernels/emu/cuda_headers.h"
#include "kernels/emu/block_runner.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "kernels/emu/options.h"
#include "kernels/emu/sync.h"

namespace farm::emu {

namespace {

void thread_main(void* arg) {
  auto* t = static_cast<ThreadState*>(arg);
  t->block->launch->invoke(t->block->launch->closure);
  t->wait = Wait::exited;
  t->fiber->exit_fiber();
}

bool same_site(const Site& a, const Site& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

const char* barrier_name(BarrierKind k) {
  switch (k) {
    case BarrierKind::sync: return "__syncthreads";
    case BarrierKind::count: return "__syncthreads_count";
    case BarrierKind::all: return "__syncthreads_and";
    case BarrierKind::any: return "__syncthreads_or";
  }
  return "?";
}

std::string hex(unsigned v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

unsigned char* alloc_smem(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  // Exact size, so AddressSanitizer sees reads past the requested bytes.
  if (posix_memalign(&p, 256, bytes) != 0) fatal(cat("farm-emu: cannot allocate ", bytes, " B of dynamic shared memory"));
  return static_cast<unsigned char*>(p);
}

}  // namespace

// ---- called on fibers --------------------------------------------------------

int block_barrier(BarrierKind kind, int predicate, const Loc& loc) {
  ThreadState& t = this_thread();
  t.wait = Wait::block_barrier;
  t.site = Site{loc.file_name(), loc.line()};
  t.barrier = kind;
  t.barrier_value = predicate != 0;
  t.fiber->yield();
  return t.barrier_value;
}

uint64_t warp_collective(const LaneOp& op, const Loc& loc) {
  ThreadState& t = this_thread();
  t.site = Site{loc.file_name(), loc.line()};
  if (!((op.mask >> t.lane) & 1u))
    fatal(cat("farm-emu: ", op.name, " with mask ", hex(op.mask), " that does not hold the calling lane, in ",
              describe(*t.block), ", ", describe(t), " at ", describe(t.site)));
  t.op = op;
  t.wait = Wait::warp_op;
  t.fiber->yield();
  return t.op.result;
}

// ---- the scheduler -----------------------------------------------------------

BlockRunner::BlockRunner(const Launch& launch, FiberPool& pool, WorkerSlot* slot, bool reverse)
    : launch_(launch), pool_(pool), slot_(slot), smem_(alloc_smem(launch.dynamic_smem), &std::free) {
  const dim3 b = launch.block;
  const unsigned n = b.x * b.y * b.z;
  threads_.resize(n);
  order_.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    ThreadState& t = threads_[i];
    t.idx = uint3{i % b.x, (i / b.x) % b.y, i / (b.x * b.y)};
    t.linear = i;
    t.lane = i % kWarpSize;
    t.warp = i / kWarpSize;
    t.fiber = &pool_[i];
    t.block = &block_;
    order_[i] = reverse ? n - 1 - i : i;
  }
  warps_ = (n + kWarpSize - 1) / kWarpSize;
  block_.launch = &launch_;
  block_.dynamic_smem = smem_.get();
  block_.threads = threads_.data();
  block_.thread_count = n;
}

BlockRunner::~BlockRunner() = default;

void BlockRunner::run(uint3 block_idx) {
  block_.idx = block_idx;
  const unsigned n = block_.thread_count;
  if (smem_ && options().poison_dynamic_smem) std::memset(smem_.get(), 0xFF, launch_.dynamic_smem);
  pool_.unpoison(n);
  for (ThreadState& t : threads_) {
    t.wait = Wait::running;
    t.site = Site{};
    t.async_copies.clear();  // copies a thread left in flight when it exited die with its block
    t.async_groups_committed = 0;
    t.fiber->prepare(&thread_main, &t);
  }
  detail::tl_block = &block_;
  for (;;) {
    for (unsigned k = 0; k < n; ++k) {
      ThreadState& t = threads_[order_[k]];
      if (t.wait != Wait::running) continue;
      watchdog_tick(slot_, &t);
      detail::tl_thread = &t;
      t.fiber->resume();  // runs until the thread blocks or exits
      detail::tl_thread = nullptr;
    }
    if (complete_warp_ops()) continue;
    unsigned exited = 0, at_barrier = 0;
    for (const ThreadState& t : threads_) {
      exited += t.wait == Wait::exited;
      at_barrier += t.wait == Wait::block_barrier;
    }
    if (exited == n) break;
    // Threads that exited count as arrived, as on the hardware.
    if (exited + at_barrier != n) report_deadlock();
    release_barrier();
  }
  detail::tl_block = nullptr;
}

bool BlockRunner::complete_warp_ops() {
  bool any = false;
  for (unsigned w = 0; w < warps_; ++w) {
    unsigned done = 0;  // lanes already in a completed group this round
    for (unsigned l = 0; l < kWarpSize; ++l) {
      const unsigned i = w * kWarpSize + l;
      if (i >= block_.thread_count) break;
      if (threads_[i].wait != Wait::warp_op || ((done >> l) & 1u)) continue;
      if (try_complete_group(w, l)) {
        done |= threads_[i].op.mask;
        any = true;
      }
    }
  }
  return any;
}

bool BlockRunner::try_complete_group(unsigned warp, unsigned lane) {
  const unsigned base = warp * kWarpSize;
  ThreadState& first = threads_[base + lane];
  const unsigned mask = first.op.mask;
  const WarpOpKind kind = first.op.kind;
  ThreadState* lanes[kWarpSize] = {};
  for (unsigned l = 0; l < kWarpSize; ++l) {
    if (!((mask >> l) & 1u)) continue;
    if (base + l >= block_.thread_count)
      fatal(cat("farm-emu: ", first.op.name, " mask ", hex(mask), " names lane ", l, " which does not exist (the block has ",
                block_.thread_count, " threads), in ", describe(block_), ", ", describe(first), " at ",
                describe(first.site)));
    ThreadState& t = threads_[base + l];
    if (t.wait == Wait::exited)
      fatal(cat("farm-emu: ", first.op.name, " mask ", hex(mask), " names lane ", l, " which has exited, in ",
                describe(block_), ", ", describe(first), " at ", describe(first.site)));
    if (t.wait != Wait::warp_op || t.op.mask != mask || t.op.kind != kind || t.op.custom != first.op.custom)
      return false;  // not all there yet, or lanes in different collectives (a deadlock report if it stays)
    lanes[l] = &t;
  }

  uint64_t v[kWarpSize] = {};
  for (unsigned l = 0; l < kWarpSize; ++l)
    if (lanes[l]) v[l] = lanes[l]->op.value;
  auto in_mask = [&](int l) { return l >= 0 && l < static_cast<int>(kWarpSize) && ((mask >> l) & 1u); };

  switch (kind) {
    case WarpOpKind::sync:
      break;
    case WarpOpKind::shfl_idx:
    case WarpOpKind::shfl_up:
    case WarpOpKind::shfl_down:
    case WarpOpKind::shfl_xor:
      for (unsigned l = 0; l < kWarpSize; ++l) {
        if (!lanes[l]) continue;
        const LaneOp& op = lanes[l]->op;
        const int w = op.width;
        if (w < 1 || w > 32 || (w & (w - 1)))
          fatal(cat("farm-emu: ", op.name, " width ", w, " is not a power of two in [1, 32], in ", describe(block_),
                    ", ", describe(*lanes[l]), " at ", describe(lanes[l]->site)));
        const int me = static_cast<int>(l);
        const int seg = me / w * w;
        int src = me;
        switch (kind) {
          case WarpOpKind::shfl_idx: src = seg + (op.arg & (w - 1)); break;
          case WarpOpKind::shfl_up: src = me - op.arg >= seg ? me - op.arg : me; break;
          case WarpOpKind::shfl_down: src = me + op.arg < seg + w ? me + op.arg : me; break;
          default: src = (me ^ op.arg) < seg + w ? (me ^ op.arg) : me; break;
        }
        if (!in_mask(src))
          fatal(cat("farm-emu: ", op.name, " in ", describe(*lanes[l]), " reads lane ", src,
                    " which is not in the mask ", hex(mask), " (undefined on the GPU), in ", describe(block_), " at ",
                    describe(lanes[l]->site)));
        lanes[l]->op.result = v[src];
      }
      break;
    case WarpOpKind::ballot:
    case WarpOpKind::any:
    case WarpOpKind::all: {
      unsigned bits = 0;
      for (unsigned l = 0; l < kWarpSize; ++l)
        if (lanes[l] && v[l]) bits |= 1u << l;
      const uint64_t r = kind == WarpOpKind::ballot ? bits : kind == WarpOpKind::any ? bits != 0 : bits == mask;
      for (ThreadState* t : lanes)
        if (t) t->op.result = r;
      break;
    }
    case WarpOpKind::match_any:
      for (unsigned l = 0; l < kWarpSize; ++l) {
        if (!lanes[l]) continue;
        unsigned m = 0;
        for (unsigned j = 0; j < kWarpSize; ++j)
          if (lanes[j] && v[j] == v[l]) m |= 1u << j;
        lanes[l]->op.result = m;
      }
      break;
    case WarpOpKind::match_all: {
      bool equal = true;
      for (unsigned l = 0; l < kWarpSize; ++l)
        if (lanes[l] && v[l] != v[lane]) equal = false;
      for (ThreadState* t : lanes)
        if (t) t->op.result = equal ? mask : 0;
      break;
    }
    case WarpOpKind::reduce_add:
    case WarpOpKind::reduce_min_s:
    case WarpOpKind::reduce_max_s:
    case WarpOpKind::reduce_min_u:
    case WarpOpKind::reduce_max_u:
    case WarpOpKind::reduce_and:
    case WarpOpKind::reduce_or:
    case WarpOpKind::reduce_xor: {
      uint32_t acc = static_cast<uint32_t>(v[lane]);
      for (unsigned l = 0; l < kWarpSize; ++l) {
        if (!lanes[l] || l == lane) continue;
        const auto x = static_cast<uint32_t>(v[l]);
        const auto sx = static_cast<int32_t>(x), sa = static_cast<int32_t>(acc);
        switch (kind) {
          case WarpOpKind::reduce_add: acc += x; break;
          case WarpOpKind::reduce_min_s: acc = static_cast<uint32_t>(sx < sa ? sx : sa); break;
          case WarpOpKind::reduce_max_s: acc = static_cast<uint32_t>(sx > sa ? sx : sa); break;
          case WarpOpKind::reduce_min_u: acc = x < acc ? x : acc; break;
          case WarpOpKind::reduce_max_u: acc = x > acc ? x : acc; break;
          case WarpOpKind::reduce_and: acc &= x; break;
          case WarpOpKind::reduce_or: acc |= x; break;
          default: acc ^= x; break;
        }
      }
      for (ThreadState* t : lanes)
        if (t) t->op.result = acc;
      break;
    }
    case WarpOpKind::custom:
      first.op.custom(lanes, mask);
      break;
  }
  for (ThreadState* t : lanes)
    if (t) t->wait = Wait::running;
  return true;
}

void BlockRunner::release_barrier() {
  const ThreadState* first = nullptr;
  bool divergent = false;
  int count = 0, all = 1, any = 0;
  for (const ThreadState& t : threads_) {
    if (t.wait != Wait::block_barrier) continue;
    if (!first) first = &t;
    if (!same_site(t.site, first->site) || t.barrier != first->barrier) divergent = true;
    count += t.barrier_value;
    all &= t.barrier_value;
    any |= t.barrier_value;
  }
  if (divergent) {
    // Group the waiting threads by call site for the report.
    std::map<std::tuple<std::string, unsigned, int>, std::pair<unsigned, const ThreadState*>> sites;
    for (const ThreadState& t : threads_) {
      if (t.wait != Wait::block_barrier) continue;
      auto& e = sites[{t.site.file, t.site.line, static_cast<int>(t.barrier)}];
      if (!e.first++) e.second = &t;
    }
    std::ostringstream s;
    s << "farm-emu: divergent barrier in " << describe(block_) << ": threads wait at different barriers:";
    for (const auto& [key, e] : sites)
      s << "\n  " << e.first << " thread(s) in " << barrier_name(e.second->barrier) << " at "
        << describe(e.second->site) << " (first: " << describe(*e.second) << ')';
    fatal(s.str());
  }
  const int result = first->barrier == BarrierKind::count ? count : first->barrier == BarrierKind::all ? all : any;
  for (ThreadState& t : threads_) {
    if (t.wait != Wait::block_barrier) continue;
    t.barrier_value = result;
    t.wait = Wait::running;
  }
}

void BlockRunner::report_deadlock() {
  std::map<std::string, std::pair<unsigned, const ThreadState*>> groups;
  for (const ThreadState& t : threads_) {
    std::string what;
    if (t.wait == Wait::exited) {
      what = "exited";
    } else if (t.wait == Wait::block_barrier) {
      what = cat("wait in ", barrier_name(t.barrier), " at ", describe(t.site));
    } else {
      what = cat("wait in ", t.op.name, " (warp ", t.warp, ", mask ", hex(t.op.mask), ") at ", describe(t.site));
    }
    auto& e = groups[what];
    if (!e.first++) e.second = &t;
  }
  std::ostringstream s;
  s << "farm-emu: deadlock in " << describe(block_)
    << ": no thread can proceed (a warp collective waits for lanes that wait elsewhere):";
  for (const auto& [what, e] : groups)
    s << "\n  " << e.first << " thread(s) " << what << " (first: " << describe(*e.second) << ')';
  fatal(s.str());
}

}  // namespace farm::emu

unsigned __activemask() {
  farm::emu::ThreadState& t = farm::emu::this_thread();
  farm::emu::BlockState& b = *t.block;
  unsigned m = 0;
  const unsigned base = t.warp * farm::emu::kWarpSize;
  for (unsigned l = 0; l < farm::emu::kWarpSize && base + l < b.thread_count; ++l)
    if (b.threads[base + l].wait != farm::emu::Wait::exited) m |= 1u << l;
  return m;
}
