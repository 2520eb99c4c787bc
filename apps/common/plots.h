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

// Writes a PNG of `panels` side by side, each panel_width x panel_height pixels; a build without PLplot
// (KEYNET_PLOTS=OFF) draws nothing and says so once.
void plot_panels(const std::string& path, const std::vector<Panel>& panels, int panel_width = 640,
                 int panel_height = 480);

}  // namespace keynet::apps
