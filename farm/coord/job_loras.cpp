#include "farm/coord/job_loras.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "farm/coord/sha256.h"
#include "farm/core/error.h"
#include "farm/text/prompt_attention.h"

namespace farm {

namespace fs = std::filesystem;

std::string prompt_loras(const std::string& prompt, std::vector<ItemLora>& out) {
  std::vector<text::ExtraNetworkTag> tags;
  text::strip_extra_networks(prompt, &tags);
  for (const auto& t : tags) {
    const std::string shown = cat("<", t.kind, ":", t.args.empty() ? "" : t.args[0], t.args.size() > 1 ? ":..." : "", ">");
    if (t.kind != "lora" && t.kind != "lyco")
      return cat("tag ", shown, ": farm has no '", t.kind, "' extra networks (only <lora:name:weight>); write \\< ",
                 "for a literal bracket, or --prompt-syntax plain");
    ItemLora l;
    l.name = t.args[0];
    if (l.name.empty()) return cat("tag ", shown, ": no LoRA name");
    if (t.args.size() > 2)
      return cat("tag ", shown, ": separate text-encoder and UNet weights are not supported; write <lora:name:weight>");
    if (t.args.size() == 2) {
      const std::string& w = t.args[1];
      const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), l.weight);
      if (ec != std::errc() || end != w.data() + w.size())
        return cat("tag ", shown, ": weight '", w, "' is not a number");
    }
    out.push_back(std::move(l));
  }
  return "";
}

std::string check_loras(const std::vector<ItemLora>& loras) {
  std::set<std::string> seen;
  for (const auto& l : loras) {
    if (!seen.insert(l.name).second) return cat("LoRA '", l.name, "' is given more than once");
    if (!std::isfinite(l.weight) || std::fabs(l.weight) > 100)
      return cat("LoRA '", l.name, "': weight ", l.weight, " is out of range (-100 to 100)");
    if (l.name.find('/') != std::string::npos || l.name == "." || l.name == "..")
      return cat("LoRA '", l.name, "': a name, not a path (files are found in --lora-dir)");
  }
  return "";
}

std::map<std::string, std::string> resolve_loras(const std::string& lora_dir, std::vector<JobItem>& items) {
  std::set<std::string> names;
  for (const auto& it : items)
    for (const auto& l : it.loras) names.insert(l.name);
  std::map<std::string, std::string> files;
  if (names.empty()) return files;
  if (lora_dir.empty())
    fail("the prompts use LoRAs (", *names.begin(), names.size() > 1 ? ", ..." : "",
         ") but no --lora-dir was given (the folder of NAME.safetensors files)");
  if (!fs::is_directory(lora_dir)) fail("--lora-dir ", lora_dir, ": not a folder");
  // Every .safetensors below the folder, by stem; a name found twice is ambiguous.
  std::map<std::string, std::vector<std::string>> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(lora_dir, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".safetensors" && names.count(it->path().stem().string()))
      found[it->path().stem().string()].push_back(it->path().string());
  }
  std::vector<std::string> missing;
  for (const auto& n : names) {
    const auto f = found.find(n);
    if (f == found.end()) {
      missing.push_back(n);
      continue;
    }
    if (f->second.size() > 1) fail("LoRA '", n, "' is ambiguous in ", lora_dir, ": ", f->second[0], " and ", f->second[1]);
    files[n] = f->second[0];
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t k = 0; k < missing.size() && k < 10; ++k) list += (k ? ", " : "") + missing[k];
    fail(missing.size(), " LoRA", missing.size() > 1 ? "s" : "", " not found in ", lora_dir,
         " (looked for NAME.safetensors there and below): ", list, missing.size() > 10 ? ", ..." : "");
  }
  std::map<std::string, std::string> hashes;
  for (const auto& [n, path] : files) hashes[n] = lora_file_hash(path);
  for (auto& it : items)
    for (auto& l : it.loras) l.sha256 = hashes.at(l.name);
  return files;
}

std::string lora_file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the LoRA file");
  uint8_t len[8];
  if (!in.read(reinterpret_cast<char*>(len), 8)) fail(path, ": truncated LoRA file (no safetensors header)");
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | len[k];
  const auto size = fs::file_size(path);
  if (n > size - 8) fail(path, ": truncated LoRA file (header of ", n, " bytes in a file of ", size, ")");
  in.seekg(static_cast<std::streamoff>(8 + n));
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

std::string weight_text(double w) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, w);
  return ec == std::errc() ? std::string(buf, end) : cat(w);
}

std::string lora_tags(const std::vector<ItemLora>& loras) {
  std::string out;
  for (const auto& l : loras) out += cat(out.empty() ? "" : " ", "<lora:", l.name, ":", weight_text(l.weight), ">");
  return out;
}

}  // namespace farm
