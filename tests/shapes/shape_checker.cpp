#include "tests/shapes/shape_checker.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <stdexcept>

namespace farm::shapes {
namespace {

using Rgb = std::array<double, 3>;

const std::map<std::string, Rgb>& shape_colours() {
  static const std::map<std::string, Rgb> t = {{"red", {220, 30, 30}},     {"green", {30, 170, 40}},
                                               {"blue", {30, 60, 220}},    {"yellow", {240, 220, 30}},
                                               {"purple", {140, 40, 180}}, {"orange", {250, 140, 20}}};
  return t;
}
const std::map<std::string, Rgb>& backgrounds() {
  static const std::map<std::string, Rgb> t = {{"white", {245, 245, 245}}, {"black", {15, 15, 15}},
                                               {"gray", {128, 128, 128}},  {"blue", {30, 60, 220}},
                                               {"green", {30, 170, 40}}};
  return t;
}

constexpr double kFgDistance = 60.0;
constexpr int kMinArea = 12;
constexpr double kLeftBelow = 0.385, kRightAbove = 0.615, kSmallBelow = 0.31;
constexpr double kSquareFill = 0.88, kTriangleTaper = 0.78;

// Ties go to the first entry in the Python dict's order; both tables are
// far enough apart that ties do not occur with real pixels.
std::string nearest(const Rgb& c, const std::map<std::string, Rgb>& table) {
  std::string best;
  double best_d = INFINITY;
  for (const auto& [name, v] : table) {
    const double d = (v[0] - c[0]) * (v[0] - c[0]) + (v[1] - c[1]) * (v[1] - c[1]) + (v[2] - c[2]) * (v[2] - c[2]);
    if (d < best_d) best_d = d, best = name;
  }
  return best;
}

// numpy's median: the mean of the two middle values for an even count.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

Rgb median_rgb(const std::vector<Rgb>& px) {
  Rgb r{};
  for (int ch = 0; ch < 3; ++ch) {
    std::vector<double> v;
    v.reserve(px.size());
    for (const auto& p : px) v.push_back(p[ch]);
    r[ch] = median(std::move(v));
  }
  return r;
}

}  // namespace

Scene parse_caption(const std::string& caption) {
  static const std::regex re(
      R"(^a (small|large) (\w+) (circle|square|triangle) (on the left|in the center|on the right), (\w+) background$)");
  std::smatch m;
  if (!std::regex_match(caption, m, re)) throw std::invalid_argument("caption not in shapes.py form: " + caption);
  const std::string where = m[4];
  const std::string pos = where == "on the left" ? "left" : where == "on the right" ? "right" : "center";
  return Scene{m[5], m[2], pos, m[1], m[3]};
}

Analysis analyse(int w, int h, const std::vector<uint8_t>& rgb) {
  auto at = [&](int y, int x) {
    const size_t i = (static_cast<size_t>(y) * w + x) * 3;
    return Rgb{static_cast<double>(rgb[i]), static_cast<double>(rgb[i + 1]), static_cast<double>(rgb[i + 2])};
  };
  std::vector<Rgb> ring;
  for (int x = 0; x < w; ++x) ring.push_back(at(0, x));
  for (int x = 0; x < w; ++x) ring.push_back(at(h - 1, x));
  for (int y = 1; y < h - 1; ++y) ring.push_back(at(y, 0));
  for (int y = 1; y < h - 1; ++y) ring.push_back(at(y, w - 1));
  const Rgb bg = median_rgb(ring);
  Analysis out;
  out.background = nearest(bg, backgrounds());

  std::vector<char> fg(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const Rgb p = at(y, x);
      const double d = std::sqrt((p[0] - bg[0]) * (p[0] - bg[0]) + (p[1] - bg[1]) * (p[1] - bg[1]) +
                                 (p[2] - bg[2]) * (p[2] - bg[2]));
      fg[static_cast<size_t>(y) * w + x] = d > kFgDistance;
    }
  // Largest 4-connected component; the first found (row-major scan) wins ties.
  std::vector<int> label(fg.size(), 0);
  int best = 0, best_size = 0, n = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      if (!fg[i] || label[i]) continue;
      label[i] = ++n;
      std::vector<std::pair<int, int>> stack = {{y, x}};
      int size = 0;
      while (!stack.empty()) {
        const auto [cy, cx] = stack.back();
        stack.pop_back();
        ++size;
        const int ny[4] = {cy - 1, cy + 1, cy, cy}, nx[4] = {cx, cx, cx - 1, cx + 1};
        for (int k = 0; k < 4; ++k) {
          if (ny[k] < 0 || ny[k] >= h || nx[k] < 0 || nx[k] >= w) continue;
          const size_t j = static_cast<size_t>(ny[k]) * w + nx[k];
          if (fg[j] && !label[j]) {
            label[j] = n;
            stack.push_back({ny[k], nx[k]});
          }
        }
      }
      if (size > best_size) best = n, best_size = size;
    }
  out.area = best ? best_size : 0;
  if (out.area < kMinArea) return out;

  std::vector<Rgb> px;
  double sum_x = 0;
  int x0 = w, x1 = -1, y0 = h, y1 = -1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (label[static_cast<size_t>(y) * w + x] == best) {
        px.push_back(at(y, x));
        sum_x += x;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  out.colour = nearest(median_rgb(px), shape_colours());
  out.cx = (sum_x / out.area + 0.5) / w;
  out.position = out.cx < kLeftBelow ? "left" : out.cx > kRightAbove ? "right" : "center";
  const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  out.side = static_cast<double>(std::max(bw, bh)) / w;
  out.size = out.side < kSmallBelow ? "small" : "large";
  out.fill = static_cast<double>(out.area) / (bw * bh);
  // Taper: a triangle (apex up) is narrow a quarter down and wide three
  // quarters down; blur (a VAE's) rounds a small triangle's fill up towards a
  // circle's but keeps its taper.
  auto row_count = [&](int y) {
    int n = 0;
    for (int x = 0; x < w; ++x) n += label[static_cast<size_t>(y) * w + x] == best;
    return n;
  };
  out.taper = static_cast<double>(row_count(y0 + bh / 4)) / std::max(1, row_count(y0 + (3 * bh) / 4));
  out.shape = out.taper < kTriangleTaper ? "triangle" : out.fill >= kSquareFill ? "square" : "circle";
  return out;
}

std::array<bool, 5> judge(const Analysis& got, const Scene& want) {
  return {got.background == want.background, got.colour == want.colour, got.position == want.position,
          got.size == want.size, got.shape == want.shape};
}

}  // namespace farm::shapes
