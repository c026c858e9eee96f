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

// [rows, 77·C, D] on the model's backend, C the most chunks of any prompt.
Tensor encode_conditioning(const SdModel& m, const std::vector<std::string>& prompts, int clip_skip,
                           text::PromptReading reading);

// The chunks an item's rows get: the more of its prompt's and (with
// guidance) its negative prompt's.
int item_chunks(const text::ClipTokenizer& tok, const std::string& prompt, const std::string& negative_prompt,
                bool guided, text::PromptReading reading);

}  // namespace farm::pipeline
