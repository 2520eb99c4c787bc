// Drawing: points land on their pixels in their colour, digits render distinctly, grids tile.
#include <doctest/doctest.h>

#include "data/draw.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;

namespace {
bool has_color(const Image& im, int x, int y, Color c) {
  return im.at(x, y, 0) == c.r && im.at(x, y, 1) == c.g && im.at(x, y, 2) == c.b;
}
int count_color(const Image& im, Color c) {
  int n = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) n += has_color(im, x, y, c);
  return n;
}
}  // namespace

TEST_CASE("draw_points: discs on the points, gray becomes RGB, edges clip") {
  Image im(40, 30, 1, 100.0f);
  draw_points(im, {{10.2, 12.7}, {39.4, 0.1}}, kGroundTruthColor, 2);
  REQUIRE(im.channels == 3);
  CHECK(has_color(im, 10, 13, kGroundTruthColor));
  CHECK(has_color(im, 12, 13, kGroundTruthColor));
  CHECK(!has_color(im, 13, 13, kGroundTruthColor));
  CHECK(has_color(im, 39, 0, kGroundTruthColor));
  CHECK(im.at(20, 20, 1) == 100.0f);  // untouched elsewhere
  draw_points(im, {{25, 15}}, kPredictionColor, 0);
  CHECK(count_color(im, kPredictionColor) == 1);
}

TEST_CASE("digits: each renders differently, numbers sit beside points") {
  std::vector<std::vector<float>> glyphs;
  for (int d = 0; d < 10; ++d) {
    Image im(4, 6, 3);
    draw_number(im, 0, 0, d, {255, 255, 255});
    glyphs.push_back(im.pixels);
    CHECK(count_color(im, {255, 255, 255}) >= 5);
  }
  for (int a = 0; a < 10; ++a)
    for (int b = a + 1; b < 10; ++b) CHECK(glyphs[a] != glyphs[b]);
  Image im(60, 20, 3);
  draw_points(im, {{5, 10}}, kPredictionColor, 1, true, 2);  // "0" at scale 2 beside the dot
  CHECK(count_color(im, kPredictionColor) > 5 + 12 * 4 - 1);
  Image scaled(20, 20, 3);
  draw_number(scaled, 0, 0, 8, {255, 255, 255}, 2);
  CHECK(count_color(scaled, {255, 255, 255}) == 13 * 4);  // "8" has 13 lit cells of the 3x5 grid
}

TEST_CASE("make_grid: layout, padding and background") {
  const Image a(10, 8, 1, 200.0f), b(6, 4, 3, 50.0f);
  const Image grid = make_grid({a, b, a}, 2, 3, {1, 2, 3});
  CHECK(grid.width == 2 * 10 + 3 * 3);
  CHECK(grid.height == 2 * 8 + 3 * 3);
  CHECK(grid.at(3, 3, 0) == 200.0f);
  CHECK(grid.at(3 + 10 + 3, 3, 2) == 50.0f);
  CHECK(has_color(grid, 0, 0, {1, 2, 3}));
  CHECK(has_color(grid, grid.width - 1, grid.height - 1, {1, 2, 3}));  // empty fourth cell
  CHECK(grid.at(3, 3 + 8 + 3, 0) == 200.0f);
  CHECK(contains(error_of([] { make_grid({}, 2); }), "no images"));
}
