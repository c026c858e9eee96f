// The ring schedule (ARCHITECTURE.md): one rank's part of a pipeline.
// Stage 0 admits micro-batches from the coordinator (text encoding, first
// model input), every stage runs its block range on the micro-batch state
// and sends each part of it straight to the stage that uses it
// (ring_routes.h; device tensors GPU to GPU when there is a link), and the last stage applies guidance and the sampler step,
// returning the next step's model input to stage 0 — or, after the final
// step, decodes, encodes the PNGs and sends only their bytes to the
// coordinator. The decode runs part by part, ceil(parts / steps) parts
// after each UNet pass (and whenever the stage would idle), so the ring sees
// the VAE as a steady extra per pass — what the partitioner budgets —
// instead of one long stall that starves every other stage. At most `in_flight_limit()` micro-batches circulate per
// pipeline; one that finishes frees its slot for the next admission at once.
//
// The stage does no waiting of its own: the rank's event loop hands it
// messages (on_message) and asks it to do one unit of work at a time (work),
// so rank 0 can interleave the coordinator with its stage.
//
// With an SDXL refiner both models share the ring (RingLayout::refiner_ranges):
// a micro-batch's base steps run the base's block ranges, its refiner steps
// the refiner's, each with its own routes; stage 0 encodes both models'
// conditioning at admission, the last stage owns the one DenoiseLoop that
// switches sampler at the refiner's start and decodes with the refiner's VAE.
// A stage with an empty range in a phase passes that phase's state on.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "farm/comm/transport.h"
#include "farm/pipeline/denoise_loop.h"
#include "farm/pipeline/ring_messages.h"
#include "farm/pipeline/ring_routes.h"
#include "kernels/tensor_link.h"

namespace farm::pipeline {

// Turns a finished image into the bytes the coordinator writes (PNG + metadata).
using ImageEncoder = std::function<comm::Bytes(const RingItem&, const RgbImage&)>;

// What a busy interval was, for traces: "admit" (text encoder, then step 0's
// UNet pass), "unet" (a pass), "vae" (a decode part, `step` its index; the
// last one also encodes the PNGs) or "receive" (taking a state message in).
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
  // Device work: the whole job, and each UNet pass in the steady state
  // (after the first micro-batch finished): its input up, the pass, its output down.
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

class RingStage {
 public:
  // With a `link` (NCCL), device tensors go GPU to GPU and only control
  // travels over `t`; without one, everything goes over `t` through the host.
  // `refiner`: loaded with the layout's refiner ranges, when it has them.
  RingStage(const SdModel& m, RingLayout layout, comm::Transport& t, ImageEncoder encode,
            kernels::TensorLink* link = nullptr, const SdModel* refiner = nullptr);

  int stage() const { return stage_; }
  bool first() const { return stage_ == 0; }
  bool last() const { return stage_ == layout_.stages - 1; }

  // kAssign and kState messages.
  void on_message(comm::Message m);
  // Stage 0: asks the coordinator for the next micro-batch while its own queue is empty.
  void request_work();
  // Runs one queued state or one admission; false when nothing is ready.
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

 private:
  struct Admission {
    int64_t id;
    std::vector<RingItem> items;
  };
  struct Decode {
    RingState s;  // id and items; the tensors are gone
    const SdModel* decoder = nullptr;  // whose VAE (the refiner's after refiner steps)
    Tensor h;     // the VAE's running activation
    int next_part = 0;
    std::vector<std::string> errors;  // per item: why it failed ("" while it has not)
  };
  void admit(Admission a);
  void decode_part();
  void run_blocks(RingState s);
  void finish_step(RingState s);
  void count_pass(const kernels::DeviceCounters& d);
  // What a stage keeps of a micro-batch between its steps: the context
  // (stages that read it), the items (stage 0, the last stage) and SDXL's
  // added conditioning (the stage whose time_embedding block reads it); the
  // refiner's likewise.
  struct Batch {
    int steps = 0;
    std::vector<RingItem> items;
    Tensor context, text_embeds, time_ids;
    Tensor context_r, text_embeds_r, time_ids_r;
  };
  void fill_from_batch(RingState& s, const Batch& b) const;
  const RingRoutes& routes(bool refined) const { return refined ? *routes_r_ : routes_; }
  const SdModel& model(bool refined) const { return refined ? *refiner_ : model_; }
  // Whether stage 0 sends `stage` a batch message at admission.
  bool gets_batch(int stage) const;
  // A step's state, gathered from the messages of several stages.
  struct Gathering {
    StatePart hidden;
    bool has_hidden = false;
    std::map<int, Tensor> skips;  // by push-order id
  };
  void take_part(StatePart p);
  void try_ready(int64_t id, int step);
  void send(int stage, StatePart p);
  // Counts [t0, now] as busy (and traces it); returns now.
  double mark_busy(double t0);

  const SdModel& model_;
  kernels::Backend& be_;
  RingLayout layout_;
  comm::Transport& t_;
  ImageEncoder encode_;
  int pipeline_ = 0, stage_ = 0;
  size_t begin_ = 0, end_ = 0;

  kernels::TensorLink* link_ = nullptr;
  RingRoutes routes_;
  const SdModel* refiner_ = nullptr;
  std::unique_ptr<RingRoutes> routes_r_;
  size_t begin_r_ = 0, end_r_ = 0;
  int added_stage_ = 0, added_stage_r_ = 0;  // the stages holding each model's block 0
  std::map<int64_t, Batch> batches_;
  std::map<std::pair<int64_t, int>, Gathering> gathering_;  // (id, step)
  std::deque<RingState> inbox_;  // ready to run, in the order they became ready
  std::deque<Admission> admissions_;
  bool requested_ = false, no_more_ = false;
  int in_flight_ = 0;
  std::map<int64_t, std::unique_ptr<DenoiseLoop>> loops_;  // last stage: sampler state per micro-batch
  std::deque<Decode> decodes_;                              // last stage: decodes under way, oldest first
  int decode_credit_ = 0;
  bool first_done_ = false;  // a micro-batch has finished on this rank's pipeline (steady state)
  std::map<int64_t, BatchProgress> progress_;
  std::vector<int64_t> fault_items_;
  BusyWhat busy_what_;  // tracing: the unit of work under way, for mark_busy
  double ring_latency_s_ = 0;
  double pass_s_ = 0;  // stage 0: running mean of its UNet pass time
};

}  // namespace farm::pipeline
