// Figures drawn with PLplot (cairo PNG): line plots of training curves and sweeps. Each panel is one
// set of axes; several panels share one PNG side by side.
#pragma once
#include <string>
#include <vector>

namespace keynet::apps {

struct Series {
  std::string label;
  std::vector<double> x, y;
};

struct Panel {
  std::string title, x_label, y_label;
  bool log_y = false;
  std::vector<Series> series;
};

// The corner of a panel's plot area where its legend goes: the one its lines cross least (a falling loss
// leaves the top right free, a cumulative distribution the bottom right), the top right on a tie.
enum class LegendCorner { TopRight, BottomRight, TopLeft, BottomLeft };
LegendCorner legend_corner(const Panel& panel);

// Writes a PNG of `panels` side by side, each panel_width x panel_height pixels; a build without PLplot
// (KEYNET_PLOTS=OFF) draws nothing and says so once.
void plot_panels(const std::string& path, const std::vector<Panel>& panels, int panel_width = 640,
                 int panel_height = 480);

}  // namespace keynet::apps
