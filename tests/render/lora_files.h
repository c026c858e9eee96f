// LoRA files for the end-to-end render tests, made from the committed tiny
// LoRAs (tests/data/lora/tiny-sd1, tools/reference/make_tiny_loras.py): the
// files under the names the jobs use, a second LoRA (the PEFT file's UNet
// half: other tensors, so another image), a file with a key no layer has;
// and A1111's LoRA hash computed here, apart from farm's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "farm/coord/sha256.h"

namespace farm::test {

// A .safetensors file: u64 little-endian header length, JSON header, data.
struct Safetensors {
  nlohmann::json header;  // name -> {dtype, shape, data_offsets}, and __metadata__
  std::string data;       // the bytes after the header
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline uint64_t header_length(const std::string& bytes) {
  if (bytes.size() < 8) throw std::runtime_error("not a safetensors file (under 8 bytes)");
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(k)]);
  if (n > bytes.size() - 8) throw std::runtime_error("safetensors header runs past the end");
  return n;
}

inline Safetensors read_safetensors(const std::filesystem::path& p) {
  const std::string bytes = read_bytes(p);
  const uint64_t n = header_length(bytes);
  return {nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

// Writes the tensors `keep` accepts, under the names `rename` gives them,
// their data packed in the original order; __metadata__ is kept.
inline void write_safetensors(const std::filesystem::path& p, const Safetensors& src,
                              const std::function<bool(const std::string&)>& keep,
                              const std::function<std::string(const std::string&)>& rename) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : src.header.items()) {
    if (name == "__metadata__") {
      header[name] = t;
      continue;
    }
    if (!keep(name)) continue;
    const auto begin = t["data_offsets"][0].get<size_t>(), end = t["data_offsets"][1].get<size_t>();
    nlohmann::json out = t;
    out["data_offsets"] = {data.size(), data.size() + (end - begin)};
    data += src.data.substr(begin, end - begin);
    header[rename(name)] = out;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format pads the header to 8 bytes
  std::ofstream o(p, std::ios::binary);
  for (int k = 0; k < 8; ++k) o.put(static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * k)) & 0xff));
  o << text << data;
  if (!o) throw std::runtime_error("cannot write " + p.string());
}

// A1111's LoRA hash (what its metadata calls "Lora hashes"): sha256 of the
// file after the 8 + N bytes of its header, first 12 hex digits.
inline std::string a1111_lora_hash(const std::filesystem::path& p) {
  const std::string bytes = read_bytes(p);
  const uint64_t n = header_length(bytes);
  return sha256_hex(bytes.data() + 8 + n, bytes.size() - 8 - n).substr(0, 12);
}

// `dst` holds, from tiny-sd1's LoRAs in `src`:
//   A.safetensors      the kohya file
//   B.safetensors      the PEFT file's UNet tensors only: another LoRA
//   kohya.safetensors, peft.safetensors   the two files as committed (the
//                      same tensors, F16 values, alpha 6 / 3, in two formats)
//   nowhere/bogus.safetensors   the kohya file with conv_in renamed
//                      lora_unet_conv_nowhere: keys no layer has
inline void make_lora_dir(const std::filesystem::path& src, const std::filesystem::path& dst) {
  namespace fs = std::filesystem;
  fs::create_directories(dst / "nowhere");
  const auto same = [](const std::string& n) { return n; };
  const std::pair<const char*, const char*> copies[] = {{"kohya", "kohya"}, {"peft", "peft"}, {"kohya", "A"}};
  for (const auto& [from, to] : copies)
    fs::copy_file(src / (std::string(from) + ".safetensors"), dst / (std::string(to) + ".safetensors"),
                  fs::copy_options::overwrite_existing);
  const Safetensors kohya = read_safetensors(src / "kohya.safetensors");
  const Safetensors peft = read_safetensors(src / "peft.safetensors");
  write_safetensors(dst / "B.safetensors", peft, [](const std::string& n) { return n.rfind("unet.", 0) == 0; }, same);
  const auto conv_nowhere = [](const std::string& n) {
    const std::string from = "lora_unet_conv_in.";
    return n.rfind(from, 0) == 0 ? "lora_unet_conv_nowhere." + n.substr(from.size()) : n;
  };
  write_safetensors(dst / "nowhere" / "bogus.safetensors", kohya, [](const std::string&) { return true; },
                    conv_nowhere);
}

}  // namespace farm::test
