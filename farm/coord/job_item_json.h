// A JobItem as JSON and back, exactly: the coordinator's record of an item
// travels with its micro-batch through the ring, so the last stage can write
// the image's metadata and the coordinator its file name.
#pragma once

#include <string>

#include "farm/coord/job.h"
#include "farm/pipeline/txt2img.h"

namespace farm {

std::string job_item_to_json(const JobItem& it);
JobItem job_item_from_json(const std::string& s);

// What the pipeline computes for the item.
pipeline::Txt2ImgRequest to_request(const JobItem& it);

}  // namespace farm
