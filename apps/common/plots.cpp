// Line plots with PLplot; in a build without it (KEYNET_PLOTS=OFF, as on the GPU machine, which lacks
// PLplot) every figure is skipped and the first skip says so on stderr, once per process.
#include "apps/common/plots.h"

#include "tensor/error.h"

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

#include <algorithm>
#include <cmath>
#include <limits>

namespace keynet::apps {

namespace {
// cmap0 slots: 0 background, 1 axes and text, 2.. one per series.
constexpr int kSeriesColors[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
constexpr int kNumColors = sizeof kSeriesColors / sizeof kSeriesColors[0];

void draw_panel(plstream& pls, const Panel& panel) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  auto value = [&](double y) { return panel.log_y ? std::log10(std::max(y, 1e-30)) : y; };
  for (const Series& s : panel.series) {
    KEYNET_CHECK(s.x.size() == s.y.size(), "plot '", panel.title, "': series '", s.label, "' has ", s.x.size(),
                 " x values and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, value(s.y[i])), y_max = std::max(y_max, value(s.y[i]));
    }
  }
  KEYNET_CHECK(std::isfinite(x_min) && std::isfinite(y_min), "plot '", panel.title, "': no finite data");
  if (x_max == x_min) x_max = x_min + 1;
  const double margin = y_max > y_min ? 0.05 * (y_max - y_min) : 0.5;
  pls.adv(0);
  pls.col0(1);
  pls.vsta();
  pls.wind(x_min, x_max, y_min - margin, y_max + margin);
  pls.box("bcnst", 0, 0, panel.log_y ? "bcnstvl" : "bcnstv", 0, 0);
  pls.lab(panel.x_label.c_str(), panel.y_label.c_str(), panel.title.c_str());

  std::vector<PLINT> options, colors, styles;
  std::vector<PLFLT> widths;
  std::vector<const char*> labels;
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const Series& s = panel.series[k];
    std::vector<PLFLT> xs, ys;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) xs.push_back(s.x[i]), ys.push_back(value(s.y[i]));
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
  PLFLT legend_width = 0, legend_height = 0;
  pls.legend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, 0, 1, 1, 0, 0,
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
