// Line plots with PLplot; in a build without it (KEYNET_PLOTS=OFF, as on the GPU machine, which lacks
// PLplot) every figure is skipped and the first skip says so on stderr, once per process.
#include "apps/common/plots.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace keynet::apps {

namespace {

// What a panel's axes span: its finite values (log10 of y on a log axis) with 5% of margin in y.
struct Window {
  double x_min, x_max, y_min, y_max;
};

double plotted(const Panel& panel, double y) { return panel.log_y ? std::log10(std::max(y, 1e-30)) : y; }

Window window_of(const Panel& panel) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const Series& s : panel.series) {
    KEYNET_CHECK(s.x.size() == s.y.size(), "plot '", panel.title, "': series '", s.label, "' has ", s.x.size(),
                 " x values and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, plotted(panel, s.y[i])), y_max = std::max(y_max, plotted(panel, s.y[i]));
    }
  }
  KEYNET_CHECK(std::isfinite(x_min) && std::isfinite(y_min), "plot '", panel.title, "': no finite data");
  if (x_max == x_min) x_max = x_min + 1;
  const double margin = y_max > y_min ? 0.05 * (y_max - y_min) : 0.5;
  return {x_min, x_max, y_min - margin, y_max + margin};
}

// legend_corner for the panel's window `w` (draw_panel has it already).
LegendCorner emptiest_corner(const Panel& panel, const Window& w) {
  // The legend's size as a fraction of the plot area: about its longest labels' width, a line per series.
  const double width = 0.5, height = std::min(0.9, 0.05 + 0.065 * static_cast<double>(panel.series.size()));
  constexpr std::array kCorners = {LegendCorner::TopRight, LegendCorner::BottomRight, LegendCorner::TopLeft,
                                   LegendCorner::BottomLeft};
  std::array<int, 4> crossings{};
  const auto count = [&](double u, double v) {  // a point of a line, in [0, 1] x [0, 1] of the plot area
    const bool right = u >= 1 - width, left = u <= width, top = v >= 1 - height, bottom = v <= height;
    crossings[0] += right && top, crossings[1] += right && bottom, crossings[2] += left && top;
    crossings[3] += left && bottom;
  };
  for (const Series& s : panel.series) {
    bool have_previous = false;
    double pu = 0, pv = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        have_previous = false;
        continue;
      }
      const double u = (s.x[i] - w.x_min) / (w.x_max - w.x_min);
      const double v = (plotted(panel, s.y[i]) - w.y_min) / (w.y_max - w.y_min);
      constexpr int kSteps = 16;  // points along each segment, so a line between far points is seen
      for (int k = have_previous ? 1 : kSteps; k <= kSteps; ++k) {
        const double t = static_cast<double>(k) / kSteps;
        count(pu + t * (u - pu), pv + t * (v - pv));
      }
      pu = u, pv = v, have_previous = true;
    }
  }
  return kCorners[std::min_element(crossings.begin(), crossings.end()) - crossings.begin()];
}

}  // namespace

LegendCorner legend_corner(const Panel& panel) { return emptiest_corner(panel, window_of(panel)); }

}  // namespace keynet::apps

#ifndef KEYNET_WITH_PLOTS
#include <iostream>

namespace keynet::apps {

void plot_panels(const std::string& path, const std::vector<Panel>& panels, int, int) {
  KEYNET_CHECK(!panels.empty(), path, ": a figure needs at least one panel");
  static bool said = false;
  if (!said) std::cerr << "figures skipped: built without PLplot (KEYNET_PLOTS=OFF), so " << path
                       << " and any later figure are not drawn\n";
  said = true;
}

}  // namespace keynet::apps
#else
#include <plplot/plstream.h>

namespace keynet::apps {

namespace {
// cmap0 slots: 0 background, 1 axes and text, 2.. one per series.
constexpr int kSeriesColors[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
constexpr int kNumColors = sizeof kSeriesColors / sizeof kSeriesColors[0];

void draw_panel(plstream& pls, const Panel& panel) {
  const Window w = window_of(panel);
  pls.adv(0);
  pls.col0(1);
  pls.vsta();
  pls.wind(w.x_min, w.x_max, w.y_min, w.y_max);
  pls.box("bcnst", 0, 0, panel.log_y ? "bcnstvl" : "bcnstv", 0, 0);
  pls.lab(panel.x_label.c_str(), panel.y_label.c_str(), panel.title.c_str());

  std::vector<PLINT> options, colors, styles;
  std::vector<PLFLT> widths;
  std::vector<const char*> labels;
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const Series& s = panel.series[k];
    std::vector<PLFLT> xs, ys;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) xs.push_back(s.x[i]), ys.push_back(plotted(panel, s.y[i]));
    const PLINT color = 2 + static_cast<PLINT>(k % kNumColors);
    pls.col0(color);
    pls.width(2);
    pls.line(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
    options.push_back(PL_LEGEND_LINE);
    colors.push_back(color);
    styles.push_back(1);
    widths.push_back(2);
    labels.push_back(s.label.c_str());
  }
  pls.width(1);
  std::vector<PLINT> text_colors(panel.series.size(), 1);
  const LegendCorner corner = emptiest_corner(panel, w);
  const PLINT vertical = corner == LegendCorner::TopRight || corner == LegendCorner::TopLeft ? PL_POSITION_TOP
                                                                                             : PL_POSITION_BOTTOM;
  const PLINT horizontal = corner == LegendCorner::TopRight || corner == LegendCorner::BottomRight ? PL_POSITION_RIGHT
                                                                                                   : PL_POSITION_LEFT;
  PLFLT legend_width = 0, legend_height = 0;
  pls.legend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             vertical | horizontal | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, 0, 1, 1, 0, 0,
             static_cast<PLINT>(labels.size()), options.data(), 1.0, 0.9, 1.8, 0.0, text_colors.data(),
             labels.data(), nullptr, nullptr, nullptr, nullptr, colors.data(), styles.data(), widths.data(),
             nullptr, nullptr, nullptr, nullptr);
}
}  // namespace

void plot_panels(const std::string& path, const std::vector<Panel>& panels, int panel_width, int panel_height) {
  KEYNET_CHECK(!panels.empty(), path, ": a figure needs at least one panel");
  plstream pls;
  pls.sdev("pngcairo");
  pls.sfnam(path.c_str());
  pls.spage(0, 0, panel_width * static_cast<PLINT>(panels.size()), panel_height, 0, 0);
  pls.scolbg(255, 255, 255);
  pls.scol0(1, 30, 30, 30);
  for (int k = 0; k < kNumColors; ++k) pls.scol0(2 + k, kSeriesColors[k][0], kSeriesColors[k][1], kSeriesColors[k][2]);
  pls.ssub(static_cast<PLINT>(panels.size()), 1);
  pls.init();
  pls.schr(0, 0.8);
  for (const Panel& panel : panels) draw_panel(pls, panel);
}

}  // namespace keynet::apps
#endif
