// Judges whether a picture shows what its tiny-shapes caption says
// ("a small red circle on the left, blue background"): background colour,
// shape colour, position, size and shape class, by the plain geometric rules
// of tools/train/check.py (the Python original scores the model's training
// renders; this port scores farm's renders). The colour tables are those of
// tools/train/shapes.py, which drew the training data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace farm::shapes {

struct Scene {
  std::string background, colour, position, size, shape;
};

// Throws std::invalid_argument when the caption is not in shapes.py's form.
Scene parse_caption(const std::string& caption);

// What the picture shows; attributes stay empty when no shape was found.
struct Analysis {
  std::string background, colour, position, size, shape;
  int area = 0;
  double cx = 0, side = 0, fill = 0, taper = 0;
};

// rgb: [height, width, 3], square.
Analysis analyse(int width, int height, const std::vector<uint8_t>& rgb);

// Per attribute: background, colour, position, size, shape.
constexpr std::array<const char*, 5> kAttributes = {"background", "colour", "position", "size", "shape"};
std::array<bool, 5> judge(const Analysis& got, const Scene& want);

}  // namespace farm::shapes
