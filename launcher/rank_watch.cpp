#include "launcher/rank_watch.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>

namespace farm::launcher {

namespace {

volatile std::sig_atomic_t g_signal = 0;

// set_signal_note's text, double-buffered: the handler reads the one not
// being written.
constexpr size_t kNoteSize = 16384;
char g_notes[2][kNoteSize];
size_t g_note_len[2];
std::atomic<int> g_note{-1};

extern "C" void on_stop_signal(int sig) {
  // mpirun ends a job whose rank died with SIGTERM and a SIGKILL right
  // after, before the event loop could say anything: say it here
  // (write(2) is async-signal-safe).
  if (g_signal == 0 && sig == SIGTERM)
    if (const int n = g_note.load(); n >= 0) (void)!write(STDERR_FILENO, g_notes[n], g_note_len[n]);
  if (g_signal == 0) g_signal = sig;
  // A second Ctrl-C is the user insisting: the default action, at once.
  std::signal(sig, SIG_DFL);
}

}  // namespace

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Slurm's warning before a time limit or a preemption (sbatch --signal=USR1@120).
  sigaction(SIGUSR1, &sa, nullptr);
}

int stop_signal() { return g_signal; }

void set_signal_note(const std::string& text) {
  const int n = g_note.load() == 0 ? 1 : 0;
  const size_t len = std::min(text.size(), kNoteSize);
  std::memcpy(g_notes[n], text.data(), len);
  g_note_len[n] = len;
  g_note.store(n);
}

Watchdog::Watchdog(double timeout_s, std::function<void(const std::string&, double)> on_stall)
    : timeout_s_(timeout_s), on_stall_(std::move(on_stall)), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::enter(std::string what) {
  std::lock_guard<std::mutex> l(mu_);
  what_ = std::move(what);
  since_ = std::chrono::steady_clock::now();
  inside_ = true;
}

void Watchdog::leave() {
  std::lock_guard<std::mutex> l(mu_);
  inside_ = false;
  what_ = "waiting for work";
}

std::string Watchdog::doing() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!inside_) return what_;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
  return what_ + " for " + std::to_string(static_cast<int>(secs)) + " s";
}

void Watchdog::run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!quit_) {
    cv_.wait_for(l, std::chrono::milliseconds(250));
    if (!inside_) continue;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
    if (secs > timeout_s_) {
      const std::string what = what_;
      l.unlock();
      on_stall_(what, secs);  // does not return
      l.lock();
    }
  }
}

}  // namespace farm::launcher
