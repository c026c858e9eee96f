// What preparing a job needs of its model, whatever the family: the family's
// built-in defaults, the check every item passes before any weight is read,
// the batching key its text encoder implies, and how to tell a prompt that
// is cut. Stable Diffusion (1.x/2.x, SDXL) and Z-Image each give one.
#pragma once

#include <functional>
#include <string>

#include "farm/coord/job.h"
#include "farm/pipeline/sd_model.h"
#include "farm/pipeline/txt2img.h"
#include "farm/pipeline/zimage_pipeline.h"

namespace farm {

struct JobModel {
  std::string name;
  std::string family;  // "stable-diffusion" or "z-image"
  JobDefaults defaults;  // the family's built-ins, under the model's farm.toml
  // Throws farm::Error for an item the model cannot render (refiner: the job's, or null).
  std::function<void(const pipeline::Txt2ImgRequest&, const pipeline::SdModel* refiner)> check;
  // 77-token chunks (CLIP; batch-mates share it) or 1.
  std::function<int(const JobItem&)> text_chunks;
  // Whether the item's prompt is cut at the text encoder's length.
  std::function<bool(const JobItem&)> cut;
  std::string cut_note;  // the stderr note's tail after "N prompts are longer than"
  bool takes_refiner = true;  // the SDXL base; an item naming a refiner is refused otherwise
  bool is_refiner = false;    // an SDXL refiner given as --model
};

JobModel sd_job_model(const pipeline::SdModel& m);
// Z-Image: 1024², 8 steps, guidance 0 (Turbo's), flow_euler, prompts as plain
// text (no weights, no LoRA tags: Qwen3 reads the text as written).
JobModel zimage_job_model(const pipeline::ZImageModel& m);

}  // namespace farm
