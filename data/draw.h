// Drawing keypoints and sample grids, for figures that show whether labels sit where they belong.
#pragma once
#include <string>
#include <vector>

#include "data/image.h"

namespace keynet::data {

struct Color {
  float r = 0, g = 0, b = 0;  // 0..255
};
inline constexpr Color kGroundTruthColor{0, 220, 0};
inline constexpr Color kPredictionColor{235, 30, 30};

// Draws filled discs of `radius` pixels (any image; a gray image is converted to RGB first) and,
// with `numbers`, each point's index beside it in a 3x5 bitmap digit font scaled by `font_scale`.
void draw_points(Image& image, const std::vector<Point>& points, Color color, int radius = 2, bool numbers = false,
                 int font_scale = 1);
// A number in the built-in digit font with its top-left corner at (x, y); clipped at the edges.
void draw_number(Image& image, int x, int y, int value, Color color, int font_scale = 1);
// A line of 1-pixel width from a to b.
void draw_line(Image& image, const Point& a, const Point& b, Color color);

// Tiles images (converted to RGB, all cells sized like the largest) row by row, `columns` wide,
// with `padding` pixels of `background` between and around them.
Image make_grid(const std::vector<Image>& images, int columns, int padding = 4, Color background = {40, 40, 40});

}  // namespace keynet::data
