#include "data/draw.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tensor/error.h"

namespace keynet::data {

namespace {

// 3x5 digits; each row is 3 bits, most significant bit = leftmost pixel.
constexpr unsigned char kDigits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

void put(Image& image, int x, int y, Color color) {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  float* p = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
  p[0] = color.r, p[1] = color.g, p[2] = color.b;
}

void ensure_rgb(Image& image) {
  if (image.channels != 3) image = to_rgb(image);
}

}  // namespace

void draw_number(Image& image, int x, int y, int value, Color color, int font_scale) {
  ensure_rgb(image);
  const std::string text = std::to_string(value);
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] < '0' || text[k] > '9') continue;
    const unsigned char* glyph = kDigits[text[k] - '0'];
    const int gx = x + static_cast<int>(k) * 4 * font_scale;
    for (int row = 0; row < 5; ++row)
      for (int col = 0; col < 3; ++col)
        if (glyph[row] & (4 >> col))
          for (int sy = 0; sy < font_scale; ++sy)
            for (int sx = 0; sx < font_scale; ++sx)
              put(image, gx + col * font_scale + sx, y + row * font_scale + sy, color);
  }
}

void draw_points(Image& image, const std::vector<Point>& points, Color color, int radius, bool numbers, int font_scale) {
  ensure_rgb(image);
  for (size_t i = 0; i < points.size(); ++i) {
    const int cx = static_cast<int>(std::lround(points[i].x)), cy = static_cast<int>(std::lround(points[i].y));
    for (int dy = -radius; dy <= radius; ++dy)
      for (int dx = -radius; dx <= radius; ++dx)
        if (dx * dx + dy * dy <= radius * radius + radius / 2) put(image, cx + dx, cy + dy, color);
    if (numbers) draw_number(image, cx + radius + 1, cy - 2 * font_scale, static_cast<int>(i), color, font_scale);
  }
}

void draw_line(Image& image, const Point& a, const Point& b, Color color) {
  ensure_rgb(image);
  const int steps = static_cast<int>(std::ceil(std::max(std::abs(b.x - a.x), std::abs(b.y - a.y)))) + 1;
  for (int s = 0; s <= steps; ++s) {
    const double t = static_cast<double>(s) / steps;
    put(image, static_cast<int>(std::lround(a.x + t * (b.x - a.x))), static_cast<int>(std::lround(a.y + t * (b.y - a.y))),
        color);
  }
}

Image make_grid(const std::vector<Image>& images, int columns, int padding, Color background) {
  KEYNET_CHECK(!images.empty(), "make_grid: no images");
  KEYNET_CHECK(columns > 0 && padding >= 0, "make_grid: need columns > 0 and padding >= 0");
  int cell_w = 0, cell_h = 0;
  for (const Image& im : images) cell_w = std::max(cell_w, im.width), cell_h = std::max(cell_h, im.height);
  const int n = static_cast<int>(images.size());
  const int cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  Image grid(cols * cell_w + (cols + 1) * padding, rows * cell_h + (rows + 1) * padding, 3);
  for (size_t i = 0; i < grid.pixels.size(); i += 3)
    grid.pixels[i] = background.r, grid.pixels[i + 1] = background.g, grid.pixels[i + 2] = background.b;
  for (int k = 0; k < n; ++k) {
    const Image rgb = to_rgb(images[k]);
    const int ox = padding + (k % cols) * (cell_w + padding), oy = padding + (k / cols) * (cell_h + padding);
    for (int y = 0; y < rgb.height; ++y)
      std::copy_n(&rgb.pixels[static_cast<size_t>(y) * rgb.width * 3], rgb.width * 3, &grid.at(ox, oy + y, 0));
  }
  return grid;
}

}  // namespace keynet::data
