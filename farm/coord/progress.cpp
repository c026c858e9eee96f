#include "farm/coord/progress.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "farm/core/error.h"

namespace farm {

double ProgressSnapshot::eta_s() const {
  const size_t left = total - already_done - done - failed;
  if (left == 0) return 0;
  return done > 0 ? static_cast<double>(left) / images_per_s() : -1;
}

namespace {

std::string duration_text(double s) {
  if (s < 0) return "--";
  const auto t = static_cast<long long>(std::llround(s));
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, t / 60 % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

// Prometheus label values escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string progress_text(const ProgressSnapshot& s) {
  std::ostringstream o;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.3g", s.images_per_s());
  o << "farm: " << s.already_done + s.done << "/" << s.total << " done";
  if (s.failed) o << ", " << s.failed << " failed";
  o << ", " << rate << " images/s, ETA " << duration_text(s.eta_s());
  size_t shown = 0;
  for (const auto& b : s.in_flight) {
    if (shown++ == 3) {
      o << " ...";
      break;
    }
    o << (shown == 1 ? "; batch " : ", ") << b.id << " step " << b.step + 1 << "/" << b.steps;
  }
  return o.str();
}

std::string metrics_text(const ProgressSnapshot& s) {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << v << '\n';
  };
  metric("farm_images_total", "gauge", "Items in the job.", static_cast<double>(s.total));
  metric("farm_images_done_total", "counter", "Images written and journaled, earlier runs included.",
         static_cast<double>(s.already_done + s.done));
  metric("farm_images_failed_total", "counter", "Items that failed in this run.", static_cast<double>(s.failed));
  metric("farm_images_per_second", "gauge", "Images written per second in this run.", s.images_per_s());
  metric("farm_eta_seconds", "gauge", "Seconds left at this run's rate (-1 before the first image).", s.eta_s());
  metric("farm_queue_depth", "gauge", "Micro-batches not yet handed to a pipeline.", static_cast<double>(s.queued));
  metric("farm_in_flight_batches", "gauge", "Micro-batches being rendered.", static_cast<double>(s.in_flight.size()));
  o << "# HELP farm_rank_busy_ratio Fraction of the run a rank spent computing.\n"
    << "# TYPE farm_rank_busy_ratio gauge\n";
  for (const auto& r : s.ranks)
    o << "farm_rank_busy_ratio{rank=\"" << r.rank << "\",host=\"" << label(r.host) << "\",stage=\"" << r.stage
      << "\"} " << (s.elapsed_s > 0 ? std::min(1.0, r.busy_s / s.elapsed_s) : 0.0) << '\n';
  return o.str();
}

void ProgressDisplay::show(const ProgressSnapshot& s, bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double every = terminal_ ? 0.25 : every_s_;
  if (!force && last_.time_since_epoch().count() != 0 &&
      std::chrono::duration<double>(now - last_).count() < every)
    return;
  last_ = now;
  const std::string text = progress_text(s);
  if (terminal_) {
    std::fprintf(stderr, "\r%s\033[K", text.c_str());  // erase what a longer line left
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void ProgressDisplay::end_line() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace farm
