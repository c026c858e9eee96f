#include "farm/coord/job_model.h"

#include "farm/core/error.h"
#include "farm/pipeline/conditioning.h"
#include "farm/pipeline/zimage_ring.h"
#include "farm/text/prompt_chunks.h"

namespace farm {

JobModel sd_job_model(const pipeline::SdModel& model) {
  JobModel j;
  j.name = model.name;
  j.family = "stable-diffusion";
  j.is_refiner = model.refiner;
  j.defaults.width = j.defaults.height = static_cast<int>(model.native_size());
  j.defaults.reading.fix_text = model.first_tokenizer().options().fix_text;
  j.check = [&model](const pipeline::Txt2ImgRequest& r, const pipeline::SdModel* refiner) {
    pipeline::check_request(model, r, refiner);
  };
  // A prompt of at most 64 bytes without BREAK has at most 64 tokens (a token
  // is at least a byte of the fixed text): one chunk, without tokenizing 100k prompts.
  j.text_chunks = [&model](const JobItem& it) {
    const auto short_text = [](const std::string& s) { return s.size() <= 64 && s.find("BREAK") == std::string::npos; };
    if (short_text(it.prompt) && (it.guidance <= 1.0f || short_text(it.negative_prompt))) return 1;
    return pipeline::item_chunks(model, it.prompt, it.negative_prompt, it.guidance > 1.0f, it.reading);
  };
  j.cut = [&model](const JobItem& it) {
    return it.reading.syntax == text::PromptSyntax::plain &&
           text::prompt_chunks(model.first_tokenizer(), it.prompt, it.reading).prompt_tokens >
               model.first_tokenizer().max_length() - 2;
  };
  j.cut_note = cat(model.first_tokenizer().max_length() - 2, " tokens and are cut there (--prompt-syntax plain; a1111 takes ",
                   "prompts of any length)");
  return j;
}

JobModel zimage_job_model(const pipeline::ZImageModel& model) {
  JobModel j;
  j.name = model.name;
  j.family = "z-image";
  j.takes_refiner = false;
  j.defaults.width = j.defaults.height = 1024;
  j.defaults.steps = 8;
  j.defaults.guidance = 0.0f;
  j.defaults.sampler = "flow_euler";
  j.defaults.reading.syntax = text::PromptSyntax::plain;
  j.defaults.reading.fix_text = false;
  j.check = [&model](const pipeline::Txt2ImgRequest& r, const pipeline::SdModel*) {
    if (!model.tokenizer) (void)model.prompt_ids("");  // a config-only folder: its error names the folder
    if (r.sampler != "flow_euler")
      fail("sampler '", r.sampler, "': Z-Image samples with flow_euler (flow-matching Euler, its scheduler's) only");
    if (r.reading.syntax != text::PromptSyntax::plain)
      fail("prompt syntax a1111: Z-Image's Qwen3 encoder reads the prompt as plain text (no (word:1.2) weights, ",
           "BREAK or <lora:...> tags); use --prompt-syntax plain (its default)");
    if (!r.loras.empty()) fail("loras: Z-Image LoRAs are not supported yet");
    if (!r.refiner.empty()) fail("refiner: a Z-Image model has no refiner");
    if (r.clip_skip != 1) fail("clip_skip ", r.clip_skip, ": Z-Image reads Qwen3's second-to-last layer, fixed");
    pipeline::check_request(model, zimage_request(r));
  };
  j.text_chunks = [](const JobItem&) { return 1; };
  // The templated prompt is cut at 512 ids, as diffusers does; only a long
  // text can reach it (a token is at least a byte).
  j.cut = [&model](const JobItem& it) {
    if (it.prompt.size() < 400 || !model.tokenizer) return false;
    return model.tokenizer->token_ids(text::QwenTokenizer::chat_text(it.prompt)).size() >
           static_cast<size_t>(model.tokenizer->max_length());
  };
  j.cut_note = cat(model.tokenizer ? model.tokenizer->max_length() : 512,
                   " tokens after Qwen3's chat template and are cut there, as diffusers does");
  return j;
}

}  // namespace farm
