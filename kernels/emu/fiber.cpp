#include "kernels/emu/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define FARM_EMU_ASAN 1
#else
#define FARM_EMU_ASAN 0
#endif

#if !defined(__x86_64__) || defined(FARM_EMU_FORCE_UCONTEXT)
#define FARM_EMU_UCONTEXT 1
#include <ucontext.h>
#endif

namespace farm::emu {

[[noreturn]] static void die(const char* what) {
  std::fprintf(stderr, "farm-emu: %s\n", what);
  std::abort();
}

void fiber_trampoline_entry(Fiber* f) {
#if FARM_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &f->worker_stack_lo_, &f->worker_stack_size_);
#endif
  f->entry_(f->arg_);
  die("fiber entry returned instead of calling exit_fiber()");
}

}  // namespace farm::emu

#if !defined(FARM_EMU_UCONTEXT)
// System V x86-64: save the callee-saved registers, MXCSR and the x87 control
// word on the old stack, store its pointer, load the new one and restore.
// ~13x faster than swapcontext, which makes a sigprocmask system call.
extern "C" void farm_emu_switch(void** save_sp, void* new_sp);
extern "C" void farm_emu_trampoline();
asm(R"(
.text
.globl farm_emu_switch
.type farm_emu_switch,@function
farm_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size farm_emu_switch, .-farm_emu_switch

.globl farm_emu_trampoline
.type farm_emu_trampoline,@function
farm_emu_trampoline:
  movq %r12, %rdi
  call *%r13
  ud2
.size farm_emu_trampoline, .-farm_emu_trampoline
.section .note.GNU-stack,"",@progbits
.text
)");

namespace farm::emu {

static void trampoline_target(Fiber* f) { fiber_trampoline_entry(f); }

void Fiber::prepare(void (*entry)(void*), void* arg) {
  entry_ = entry;
  arg_ = arg;
  // Stagger the stack tops: stacks lie a power of two apart, and identical top
  // offsets would all map to the same cache sets.
  const uintptr_t stagger = (reinterpret_cast<uintptr_t>(stack_lo) / (kGuardBytes + stack_size) % 61) * 64;
  auto top = (reinterpret_cast<uintptr_t>(stack_lo + stack_size) - stagger) & ~uintptr_t{15};
  // Frame popped by farm_emu_switch: [mxcsr|fpucw][r15][r14][r13][r12][rbx][rbp][ret]
  // leaving rsp 16-aligned at the trampoline, as a call site would.
  auto* frame = reinterpret_cast<uint64_t*>(top - 80);
  frame[0] = 0x1F80ull | (0x037Full << 32);
  frame[1] = 0;                                          // r15
  frame[2] = 0;                                          // r14
  frame[3] = reinterpret_cast<uint64_t>(&trampoline_target);  // r13
  frame[4] = reinterpret_cast<uint64_t>(this);           // r12
  frame[5] = 0;                                          // rbx
  frame[6] = 0;                                          // rbp
  frame[7] = reinterpret_cast<uint64_t>(&farm_emu_trampoline);
  frame[8] = 0;
  frame[9] = 0;
  sp_ = frame;
}

static void switch_to(void** save, void* to) { farm_emu_switch(save, to); }

}  // namespace farm::emu

#else  // portable fallback: ucontext (slower: a system call per switch)

namespace farm::emu {

static void ucontext_entry(unsigned hi, unsigned lo) {
  auto p = (static_cast<uintptr_t>(hi) << 32) | lo;
  fiber_trampoline_entry(reinterpret_cast<Fiber*>(p));
}

void Fiber::prepare(void (*entry)(void*), void* arg) {
  entry_ = entry;
  arg_ = arg;
  if (!sp_) sp_ = new ucontext_t;  // freed by ~FiberPool
  auto* uc = static_cast<ucontext_t*>(sp_);
  getcontext(uc);
  uc->uc_stack.ss_sp = stack_lo;
  uc->uc_stack.ss_size = stack_size;
  uc->uc_link = nullptr;
  auto p = reinterpret_cast<uintptr_t>(this);
  makecontext(uc, reinterpret_cast<void (*)()>(&ucontext_entry), 2, static_cast<unsigned>(p >> 32),
              static_cast<unsigned>(p & 0xffffffffu));
}

static void switch_to(void** save, void* to) {
  if (!*save) *save = new ucontext_t;  // freed by ~FiberPool
  swapcontext(static_cast<ucontext_t*>(*save), static_cast<ucontext_t*>(to));
}

static void free_contexts(void* a, void* b) {
  delete static_cast<ucontext_t*>(a);
  delete static_cast<ucontext_t*>(b);
}

}  // namespace farm::emu
#endif

namespace farm::emu {

void Fiber::resume() {
#if FARM_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_lo, stack_size);
#endif
  switch_to(&worker_sp_, sp_);
#if FARM_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void Fiber::yield() {
#if FARM_EMU_ASAN
  __sanitizer_start_switch_fiber(&asan_fake_stack_, worker_stack_lo_, worker_stack_size_);
#endif
  switch_to(&sp_, worker_sp_);
#if FARM_EMU_ASAN
  __sanitizer_finish_switch_fiber(asan_fake_stack_, &worker_stack_lo_, &worker_stack_size_);
#endif
}

void Fiber::exit_fiber() {
#if FARM_EMU_ASAN
  // nullptr: this fiber's fake stack is released; it never runs again.
  __sanitizer_start_switch_fiber(nullptr, worker_stack_lo_, worker_stack_size_);
#endif
  switch_to(&sp_, worker_sp_);
  die("an exited fiber was resumed");
}

FiberPool::FiberPool(size_t count, size_t stack_size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  stack_size_ = (stack_size + page - 1) / page * page;
  const size_t slot = kGuardBytes + stack_size_;
  bytes_ = slot * count;
  void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("mmap of fiber stacks failed (too many threads per block or FARM_EMU_STACK_KB too big?)");
  base_ = static_cast<char*>(p);
  fibers_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    char* guard = base_ + i * slot;
    if (mprotect(guard, kGuardBytes, PROT_NONE) != 0) die("mprotect of a fiber guard region failed");
    fibers_[i].guard_lo = guard;
    fibers_[i].stack_lo = guard + kGuardBytes;
    fibers_[i].stack_size = stack_size_;
  }
}

FiberPool::~FiberPool() {
#if defined(FARM_EMU_UCONTEXT)
  for (auto& f : fibers_) free_contexts(f.sp_, f.worker_sp_);
#endif
  if (base_) munmap(base_, bytes_);
}

void FiberPool::unpoison([[maybe_unused]] size_t count) {
#if FARM_EMU_ASAN
  for (size_t i = 0; i < count && i < fibers_.size(); ++i)
    __asan_unpoison_memory_region(fibers_[i].stack_lo, fibers_[i].stack_size);
#endif
}

}  // namespace farm::emu
