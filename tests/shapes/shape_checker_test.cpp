// The checker on pictures drawn here with exact geometry (shapes.py's
// layout: centre x 0.27/0.5/0.73, side 0.22/0.40 of the width, supersampled
// 4× and box-filtered as the training data was): every scene must be judged
// right, and a wrong caption must be judged wrong on the attribute it changes.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/shapes/shape_checker.h"

using namespace farm::shapes;

namespace {

struct Colour {
  const char* name;
  uint8_t r, g, b;
};
const Colour kShapeColours[] = {{"red", 220, 30, 30},     {"green", 30, 170, 40},   {"blue", 30, 60, 220},
                                {"yellow", 240, 220, 30}, {"purple", 140, 40, 180}, {"orange", 250, 140, 20}};
const Colour kBackgrounds[] = {
    {"white", 245, 245, 245}, {"black", 15, 15, 15}, {"gray", 128, 128, 128}, {"blue", 30, 60, 220}, {"green", 30, 170, 40}};

// Is the supersample point (x, y) (in units of the 64-px image) inside the shape?
bool inside(const std::string& shape, double x, double y, double cx, double cy, double side) {
  const double h = side / 2;
  if (shape == "square") return std::fabs(x - cx) <= h && std::fabs(y - cy) <= h;
  if (shape == "circle") return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= h * h;
  // Triangle, apex up at (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h).
  if (y < cy - h || y > cy + h) return false;
  const double half_width = h * (y - (cy - h)) / side;
  return std::fabs(x - cx) <= half_width;
}

std::vector<uint8_t> draw(const Scene& s, const Colour& fg, const Colour& bg, int w = 64) {
  const double cx = (s.position == "left" ? 0.27 : s.position == "right" ? 0.73 : 0.5) * w, cy = 0.5 * w;
  const double side = (s.size == "small" ? 0.22 : 0.40) * w;
  std::vector<uint8_t> img(static_cast<size_t>(w) * w * 3);
  for (int y = 0; y < w; ++y)
    for (int x = 0; x < w; ++x) {
      int hits = 0;
      for (int sy = 0; sy < 4; ++sy)
        for (int sx = 0; sx < 4; ++sx) hits += inside(s.shape, x + (sx + 0.5) / 4, y + (sy + 0.5) / 4, cx, cy, side);
      const double a = hits / 16.0;
      uint8_t* p = &img[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(std::lround(a * fg.r + (1 - a) * bg.r));
      p[1] = static_cast<uint8_t>(std::lround(a * fg.g + (1 - a) * bg.g));
      p[2] = static_cast<uint8_t>(std::lround(a * fg.b + (1 - a) * bg.b));
    }
  return img;
}

TEST(ShapeChecker, JudgesEveryDrawnSceneRight) {
  int scenes = 0;
  for (const char* shape : {"circle", "square", "triangle"})
    for (const auto& fg : kShapeColours)
      for (const char* size : {"small", "large"})
        for (const char* pos : {"left", "center", "right"})
          for (const auto& bg : kBackgrounds) {
            if (std::string(fg.name) == bg.name) continue;
            const Scene s{bg.name, fg.name, pos, size, shape};
            const auto v = judge(analyse(64, 64, draw(s, fg, bg)), s);
            for (size_t k = 0; k < v.size(); ++k)
              EXPECT_TRUE(v[k]) << kAttributes[k] << " wrong for " << shape << " " << fg.name << " " << size << " "
                                << pos << " on " << bg.name;
            ++scenes;
          }
  EXPECT_EQ(scenes, 3 * 6 * 2 * 3 * 5 - 3 * 2 * 2 * 3);
}

TEST(ShapeChecker, WrongCaptionIsJudgedWrong) {
  const Scene s = parse_caption("a large red square on the left, white background");
  const auto got = analyse(64, 64, draw(s, kShapeColours[0], kBackgrounds[0]));
  auto v = judge(got, parse_caption("a large red circle on the left, white background"));
  EXPECT_FALSE(v[4]);
  v = judge(got, parse_caption("a small blue square on the right, black background"));
  EXPECT_FALSE(v[0] || v[1] || v[2] || v[3]);
  EXPECT_TRUE(v[4]);
}

TEST(ShapeChecker, BlankPictureHasNoShape) {
  std::vector<uint8_t> img(64 * 64 * 3, 128);
  const auto got = analyse(64, 64, img);
  EXPECT_EQ(got.background, "gray");
  EXPECT_TRUE(got.shape.empty());
  EXPECT_THROW(parse_caption("a cat"), std::invalid_argument);
}

}  // namespace
