// What keeps a rank honest while it renders: the stop signals (SIGINT,
// SIGTERM, SIGUSR1: finish cleanly; a second one kills at once) and a watchdog thread
// that ends the whole job when this rank has been inside one unit of work
// (a UNet pass, a VAE part) for longer than --stall-timeout — a hung kernel
// or a deadlocked collective cannot report itself any other way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace farm::launcher {

// Installs the handlers (idempotent). stop_signal(): 0, or the first signal caught.
void install_stop_signals();
int stop_signal();
// Rank 0: what to print at once if a SIGTERM arrives (kept current by the
// event loop): when mpirun ends the job because a rank or host died, a
// SIGKILL follows before the loop could print anything.
void set_signal_note(const std::string& text);

class Watchdog {
 public:
  // on_stall runs on the watchdog's thread and must not return (it aborts the job).
  Watchdog(double timeout_s, std::function<void(const std::string& what, double secs)> on_stall);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Around each unit of work; `what` names it for the message.
  void enter(std::string what);
  void leave();
  // What the rank is doing now, for its heartbeat.
  std::string doing() const;

 private:
  void run();
  double timeout_s_;
  std::function<void(const std::string&, double)> on_stall_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string what_ = "waiting for work";
  std::chrono::steady_clock::time_point since_{};
  bool inside_ = false, quit_ = false;
  std::thread thread_;
};

}  // namespace farm::launcher
