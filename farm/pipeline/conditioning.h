// The text conditioning of a micro-batch's UNet rows: each row's prompt in
// chunks of 77 (text/prompt_chunks.h), every chunk through the text encoder
// on its own, A1111's weighting, and the chunks side by side along the
// sequence: [rows, 77·C, D].
//
// Weighting, as A1111's "Original" emphasis for one prompt: per chunk z,
// z' = z · w (w per token), then z' · (mean(z) / mean(z')), so emphasis
// shifts attention between tokens without changing the embedding's mean.
// Means are per prompt and chunk (A1111 takes them over its whole batch,
// which would make an image depend on its batch-mates).
//
// Every row needs the same C: rows with fewer chunks get empty ones (the
// encoding of ""), as A1111 pads a negative prompt to its prompt's length.
// The batcher only puts items with the same C together (item_chunks), so
// padding never reaches across items and an image never depends on its
// batch-mates.
#pragma once

#include <string>
#include <vector>

#include "farm/pipeline/sd_model.h"
#include "farm/text/prompt_chunks.h"

namespace farm::pipeline {

// SDXL (m.sdxl()): each chunk goes through both text encoders, each weighted
// on its own (as A1111 weights each embedder), the two states side by side
// along the channels: [rows, 77·C, D1 + D2]. The pooled embedding is the
// second encoder's of the first chunk (diffusers truncates to one chunk; A1111
// pools the first). Rows in `zeroed` condition on zeros, pooled included:
// diffusers' force_zeros_for_empty_prompt for an empty negative prompt.
struct Conditioning {
  Tensor context;  // [rows, 77·C, D] on the model's backend, C the most chunks of any prompt
  Tensor pooled;   // SDXL: [rows, projection_dim] on the backend; else undefined
};
Conditioning encode_conditioning(const SdModel& m, const std::vector<std::string>& prompts, int clip_skip,
                                 text::PromptReading reading, const std::vector<bool>& zeroed = {});

// The chunks an item's rows get: the more of its prompt's and (with
// guidance) its negative prompt's, by each of the model's tokenizers.
int item_chunks(const SdModel& m, const std::string& prompt, const std::string& negative_prompt, bool guided,
                text::PromptReading reading);

}  // namespace farm::pipeline
