// The LoRAs of a job's items: read from <lora:name:weight> tags in A1111
// syntax prompts and from the `loras` field, checked per line, and found
// in --lora-dir (by name: NAME.safetensors there or in a folder below, as
// A1111 finds them) before any weight is read.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "farm/coord/job.h"

namespace farm {

// Appends the prompt's lora tags to `out`; "" or what is wrong with a tag.
// Other extra networks (<hypernet:...>) are an error: farm has none.
std::string prompt_loras(const std::string& prompt, std::vector<ItemLora>& out);

// "" or why a set is unusable (a name twice, a weight that is not finite).
std::string check_loras(const std::vector<ItemLora>& loras);

// Every LoRA name the items use -> its file, and each item's sha256 filled
// in. Fails naming the names not found (and where it looked) or an
// ambiguous name, before any compute.
std::map<std::string, std::string> resolve_loras(const std::string& lora_dir, std::vector<JobItem>& items);

// A1111's LoRA hash: sha256 of a .safetensors file after its header (the
// tensor data), hex; metadata gives its first 12 characters.
std::string lora_file_hash(const std::string& path);

// "<lora:name:w>" for each, as A1111 writes them into a prompt.
std::string lora_tags(const std::vector<ItemLora>& loras);

// The shortest text of a weight ("0.5", "1").
std::string weight_text(double w);

}  // namespace farm
