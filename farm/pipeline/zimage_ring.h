// Z-Image's DiT in the ring (ARCHITECTURE.md, "The ring"): the same protocol
// as the UNet's RingStage — stage 0 admits micro-batches and encodes their
// prompts, every stage runs its range of the DiT's block list, the last stage
// applies guidance and the flow-Euler step and decodes — with the DiT's state
// at a cut: per row the adaLN input and the two padded streams (image,
// caption) before the first main layer, the unified [image | caption]
// sequence after it. A DiT has no skips, so a stage sends one message per
// step, to the next stage only; the RoPE tables are rebuilt on arrival
// (ZImageDit::restore_rope) instead of travelling.
//
// The text encoder runs once per micro-batch at admission (a per-prompt stage
// of the plan), each distinct prompt once; its rows stay on stage 0, where the
// embed block reads them at every step. The items go to the last stage once.
// Rows are the items' prompts and, for items with guidance > 0, their
// negative prompts (ZImageLoop); each row runs at its own caption length.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "farm/pipeline/ring_stage_base.h"
#include "farm/pipeline/zimage_pipeline.h"

namespace farm::pipeline {

// A Z-Image job item's request from the job layer's (steps, guidance, seed,
// size, prompt, negative prompt; Z-Image's guidance semantics).
ZImageRequest zimage_request(const Txt2ImgRequest& r);

// The rank pairs that carry DiT states (stage s to s + 1 in each pipeline), in
// one order on every rank; the return to stage 0 is host latents, inline.
std::vector<kernels::LinkEdge> dit_link_edges(const RingLayout& layout);

class DitRingStage final : public RingStageBase {
 public:
  DitRingStage(const ZImageModel& m, kernels::Backend& be, RingLayout layout, comm::Transport& t, ImageEncoder encode,
               kernels::TensorLink* link = nullptr);

 private:
  struct State {
    int64_t id = 0;
    int step = 0, steps = 0;
    std::vector<model::DitState> rows;
  };
  // Stage 0: the loop (initial noise, t per step, row layout) and the rows'
  // captions; the last stage: the loop that samples and the items.
  struct Batch {
    std::vector<RingItem> items;
    std::unique_ptr<ZImageLoop> loop;
    std::vector<Tensor> captions;  // per row, on the backend (stage 0)
  };
  struct Decode {
    int64_t id = 0;
    std::vector<RingItem> items;
    Tensor h;  // the VAE's running activation
    int next_part = 0;
    std::vector<std::string> errors;
  };
  void admit(Admission a) override;
  bool decoding() const override { return !decodes_.empty(); }
  void decode_part() override;
  bool state_ready() const override { return !inbox_.empty(); }
  void run_next_state() override;
  void take_part(StatePart p) override;
  void run_blocks(State s);
  void finish_step(State s);
  // Stage 0: step `step`'s rows from the micro-batch's latents and captions.
  State step_state(int64_t id, int step, const Batch& b) const;
  ZImageLoop& loop_of(int64_t id, Batch& b);
  void try_ready(int64_t id);

  const ZImageModel& model_;
  std::map<int64_t, Batch> batches_;
  std::map<int64_t, std::deque<StatePart>> waiting_;  // last stage: states whose items are on the way
  std::deque<State> inbox_;
  std::deque<Decode> decodes_;
};

}  // namespace farm::pipeline
