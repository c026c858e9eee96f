// What every model family's ring stage shares (ARCHITECTURE.md, "The ring"):
// the assignments stage 0 asks the coordinator for, the in-flight window,
// busy accounting and traces, state messages to other stages, and the
// finished images' PNG bytes to the coordinator. RingStage (UNets: SD 1.x/2.x,
// SDXL with its refiner) and DitRingStage (Z-Image's DiT) add how a
// micro-batch is admitted, run through a stage's blocks and decoded.
//
// The stage does no waiting of its own: the rank's event loop hands it
// messages (on_message) and asks it to do one unit of work at a time (work),
// so rank 0 can interleave the coordinator with its stage.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/pipeline/ring_messages.h"
#include "kernels/tensor_link.h"

namespace farm::pipeline {

// Turns a finished image into the bytes the coordinator writes (PNG + metadata).
using ImageEncoder = std::function<comm::Bytes(const RingItem&, const RgbImage&)>;

// What a busy interval was, for traces: "admit" (text encoder, then step 0's
// pass), "unet" (a pass of the denoiser: UNet or DiT), "vae" (a decode part,
// `step` its index; the last one also encodes the PNGs) or "receive" (taking
// a state message in).
struct BusyWhat {
  const char* what = "busy";
  int64_t id = -1;  // micro-batch
  int step = 0;
};

// A stage-to-stage state message, for traces: when this rank sent it (before
// serialising) or took it in, the rank at the other end, its bytes (sent:
// with its device-link tensors; received: the message's), the micro-batch,
// its step and part ("hidden", "skips", "batch"). Messages between two ranks
// arrive in order, so the n-th send to a rank is its n-th receive from this one.
struct StateTransfer {
  double t = 0;
  int peer = -1;
  int64_t bytes = 0, id = 0;
  int step = 0;
  const char* part = "";
};

// What a rank did, for the summary line and the throughput benchmark.
// "unet" counts the denoiser's passes whatever the model (a DiT's too).
struct RingStats {
  double busy_s = 0, text_s = 0, unet_s = 0, vae_s = 0, encode_s = 0, wire_s = 0;
  int64_t unet_passes = 0, admitted = 0, finished = 0;
  double refiner_unet_s = 0;  // of unet_s: the refiner's passes (refiner_passes of unet_passes)
  int64_t refiner_passes = 0;
  int64_t state_bytes_sent = 0, states_sent = 0;  // micro-batch state messages (no control, no PNGs)
  int64_t tensor_bytes_sent = 0;  // their tensor payload only: what the cost model counts (ring_routes.h)
  int64_t link_bytes_sent = 0;    // of which GPU to GPU (NCCL), never through the host
  std::string tensors_over = "host";  // "nccl" with a device link
  double ring_latency_s = 0;  // stage 0: the ring's measured round at start-up
  int window = 0;             // stage 0: the most micro-batches it let in flight
  // Device work: the whole job, and each pass in the steady state (after the
  // first micro-batch finished): its input up, the pass, its output down.
  kernels::DeviceCounters device;
  int64_t weights_placed = 0, weight_bytes_placed = 0;  // tensors and bytes the backend placed at load
  int64_t reserved_bytes = 0, peak_bytes = 0;            // device memory held at the end, most in use at once
  std::map<std::string, std::pair<double, int64_t>> op_times;  // FARM_PROFILE_OPS: device ms and calls per op
  kernels::DeviceCounters pass_max, pass_sum;
  int64_t steady_passes = 0;
  // Busy intervals and event times (steady clock, seconds: comm::steady_clock_s) when tracing.
  bool trace = false;
  std::vector<std::pair<double, double>> busy;
  std::vector<BusyWhat> busy_what;  // per busy interval
  std::vector<double> admissions, completions;
  std::vector<StateTransfer> sends, receives;  // stage-to-stage state messages
};

// A micro-batch this rank has worked on: the step of its latest pass here.
struct BatchProgress {
  int64_t id = 0;
  int step = 0, steps = 0, items = 0;
};

class RingStageBase {
 public:
  RingStageBase(kernels::Backend& be, RingLayout layout, comm::Transport& t, ImageEncoder encode,
                kernels::TensorLink* link);
  virtual ~RingStageBase() = default;

  int stage() const { return stage_; }
  bool first() const { return stage_ == 0; }
  bool last() const { return stage_ == layout_.stages - 1; }

  // kAssign and kState messages. Receiving a state is this rank's work as
  // much as sending is (the simulator charges both to the stage): busy time.
  void on_message(comm::Message m);
  // Stage 0: asks the coordinator for the next micro-batch while its own queue is empty.
  void request_work();
  // Runs one unit of work; false when nothing is ready. In order: a decode
  // part the last stage owes (ceil(parts / steps) after each pass, so the
  // ring sees the VAE as a steady extra per pass), a state already in the
  // ring (it finishes sooner and frees its slot), an admission (stage 0,
  // within the window), else a decode part ahead of time.
  bool work();

  // The micro-batches this rank holds, for the coordinator's progress line.
  std::vector<BatchProgress> progress() const;
  // Stage 0: the ring's measured round (ring_latency.h). Without a --window,
  // the window then grows to cover it: S + 1 micro-batches keep every stage
  // busy when links are instant; each further pass time of latency needs one
  // more in flight, or stage 0 idles while states cross the links.
  void set_ring_latency(double seconds) { ring_latency_s_ = stats.ring_latency_s = seconds; }
  int window() const;

  // FARM_FAULT_ITEMS: the last stage poisons these items' latents (job
  // indices) before the finiteness check, for the per-item failure tests.
  void set_fault_items(std::vector<int64_t> items) { fault_items_ = std::move(items); }

  RingStats stats;

 protected:
  struct Admission {
    int64_t id;
    std::vector<RingItem> items;
  };
  // Takes a kAssign message into admissions_ (or notes there is no more work).
  void take_assignment(const comm::Message& m);
  // Counts [t0, now] as busy (and traces it); returns now.
  double mark_busy(double t0);
  // Runs f as busy time; returns when it began.
  double timed(const std::function<void()>& f);
  // A pass's device counters, into the steady-state figures once a micro-batch finished.
  void count_pass(const kernels::DeviceCounters& d);
  void send(int stage, StatePart p);
  // The finished micro-batch's PNGs (or per item why not) to the coordinator.
  void report_done(int64_t id, const std::vector<RingItem>& items, std::vector<std::string> errors,
                   const std::vector<RgbImage>& images);
  // Per item, "" or why its latent cannot make an image (a non-finite value:
  // guidance far too high, a numerical fault); such rows are zeroed so their
  // batch-mates decode as usual. FARM_FAULT_ITEMS items get a NaN first.
  std::vector<std::string> check_latents(Tensor& latents, const std::vector<RingItem>& items) const;
  // What work() schedules, per family.
  virtual bool decoding() const = 0;  // a decode is under way (last stage)
  virtual void decode_part() = 0;
  virtual bool state_ready() const = 0;  // a state is queued to run here
  virtual void run_next_state() = 0;
  virtual void admit(Admission a) = 0;
  virtual void take_part(StatePart p) = 0;  // a received state message
  // The last stage after a pass: decode parts owed before the next pass.
  void owe_decode_parts(int parts, int steps) { decode_credit_ = (parts + steps - 1) / steps; }

  kernels::Backend& be_;
  RingLayout layout_;
  comm::Transport& t_;
  ImageEncoder encode_;
  kernels::TensorLink* link_ = nullptr;
  int pipeline_ = 0, stage_ = 0;
  size_t begin_ = 0, end_ = 0;  // this stage's blocks of the denoiser

  std::deque<Admission> admissions_;
  bool requested_ = false, no_more_ = false;
  int in_flight_ = 0;
  bool first_done_ = false;  // a micro-batch has finished on this rank's pipeline (steady state)
  std::map<int64_t, BatchProgress> progress_;
  std::vector<int64_t> fault_items_;
  BusyWhat busy_what_;  // tracing: the unit of work under way, for mark_busy

 private:
  double ring_latency_s_ = 0;
  double pass_s_ = 0;  // stage 0: running mean of its pass time
  int decode_credit_ = 0;
};

// The clock of traces and busy time (comm::steady_clock_s).
double ring_now_s();

// Adds the time of a scope to a counter.
class Timed {
 public:
  explicit Timed(double& acc) : acc_(acc), t0_(ring_now_s()) {}
  ~Timed() { acc_ += ring_now_s() - t0_; }

 private:
  double& acc_;
  double t0_;
};

// A state part's header fields.
StatePart state_part(PartKind kind, int64_t id, int step, int steps);

}  // namespace farm::pipeline
