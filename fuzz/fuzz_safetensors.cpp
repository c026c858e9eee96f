// The safetensors reader (farm/io/safetensors.cpp) on arbitrary files: the
// header length, the JSON header, dtypes, shapes and offsets; a file it
// accepts must then load every tensor without reading outside the map.
#include <cstdint>

#include "farm/io/safetensors.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const farm::fuzz::InputFile input("model.safetensors");
  input.write(data, size);
  farm::fuzz::expect_farm_errors_only([&] {
    const farm::SafetensorsFile file(input.path());
    for (const auto& [name, entry] : file.entries()) {
      farm::fuzz::check(entry.begin <= entry.end && entry.end <= size, "an accepted range lies inside the file");
      for (int64_t extent : entry.shape) farm::fuzz::check(extent >= 0, "an accepted shape has no negative extent");
      const farm::Tensor t = file.load_f32(name);
      farm::fuzz::check(t.data.size() * farm::dtype_size(entry.dtype) == entry.end - entry.begin,
                        "load_f32 returns the entry's element count");
      if (entry.dtype == farm::DType::i64 || entry.dtype == farm::DType::i32) file.load_i64(name);
    }
  });
  return 0;
}
