#include "apps/common/figures.h"

#include <algorithm>
#include <numeric>

#include "apps/common/plots.h"
#include "data/draw.h"

namespace keynet::apps {

void save_loader_samples(const std::string& path, data::DataLoader& loader, int count, int columns) {
  loader.start_epoch(0);
  std::vector<data::Image> cells;
  while (static_cast<int>(cells.size()) < count) {
    auto batch = loader.next();
    if (!batch) break;
    for (const data::Sample& sample : batch->samples) {
      if (static_cast<int>(cells.size()) == count) break;
      // Small inputs are shown twice their size, so that the points stay visible.
      const int zoom = sample.image.width < 160 ? 2 : 1;
      data::Image image = data::resize(sample.image, sample.image.width * zoom, sample.image.height * zoom);
      const data::Affine to_cell = data::Affine::resize(sample.image.width, sample.image.height, image.width, image.height);
      data::draw_points(image, to_cell.apply(sample.points), data::kGroundTruthColor, 2);
      cells.push_back(std::move(image));
    }
  }
  data::save_png(path, data::make_grid(cells, columns));
}

void save_training_curves(const std::string& path, const std::vector<train::EpochRecord>& log,
                          const std::string& metric_name) {
  Series train_loss{"training loss", {}, {}}, val_loss{"validation loss", {}, {}}, metric{metric_name, {}, {}};
  for (const train::EpochRecord& r : log) {
    train_loss.x.push_back(r.epoch), train_loss.y.push_back(r.train_loss);
    val_loss.x.push_back(r.epoch), val_loss.y.push_back(r.val_loss);
    metric.x.push_back(r.epoch), metric.y.push_back(r.val_metric);
  }
  plot_panels(path, {{"Loss per epoch", "epoch", "loss (normalised targets)", true, {train_loss, val_loss}},
                     {"Validation " + metric_name, "epoch", metric_name, false, {metric}}});
}

namespace {

// Face indices from the lowest error to the highest (ties in dataset order).
std::vector<size_t> by_error(const std::vector<double>& errors) {
  std::vector<size_t> order(errors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return errors[a] < errors[b]; });
  return order;
}

}  // namespace

void save_best_and_worst(const std::string& path, const train::Predictions& predictions,
                         const std::vector<double>& errors, int count, int width) {
  const std::vector<size_t> order = by_error(errors);
  count = std::min<int>(count, static_cast<int>(order.size()) / 2);
  std::vector<size_t> chosen(order.begin(), order.begin() + count);
  chosen.insert(chosen.end(), order.end() - count, order.end());
  save_prediction_grid(path, predictions, chosen, std::max(1, count), width);
}

void save_best_median_worst(const std::string& path, const train::Predictions& predictions,
                            const std::vector<double>& errors, int count, int width) {
  const std::vector<size_t> order = by_error(errors);
  const size_t n = order.size(), row = static_cast<size_t>(count);
  std::vector<size_t> chosen;
  for (size_t start : {size_t{0}, n / 2 >= row / 2 ? n / 2 - row / 2 : 0, n >= row ? n - row : 0})
    for (size_t k = start; k < std::min(n, start + row); ++k) chosen.push_back(order[k]);
  save_prediction_grid(path, predictions, chosen, count, width);
}

void save_prediction_grid(const std::string& path, const train::Predictions& predictions,
                          const std::vector<size_t>& faces, int columns, int width) {
  std::vector<data::Image> cells;
  for (size_t face : faces) {
    const data::Image original = data::load_image(predictions.images[face]);
    const double scale = static_cast<double>(width) / original.width;
    const int height = static_cast<int>(original.height * scale + 0.5);
    data::Image image = data::to_rgb(data::resize(original, width, height));
    const data::Affine to_cell = data::Affine::resize(original.width, original.height, width, height);
    data::draw_points(image, to_cell.apply(predictions.truth[face]), data::kGroundTruthColor, 2);
    data::draw_points(image, to_cell.apply(predictions.predicted[face]), data::kPredictionColor, 2);
    cells.push_back(std::move(image));
  }
  data::save_png(path, data::make_grid(cells, columns));
}

void save_filter_grid(const std::string& path, const Tensor& weight, int zoom) {
  const Tensor w = weight.to(Device::CPU);
  KEYNET_CHECK(w.ndim() == 4 && w.dim(1) == 1, "filter grid: expected a (K,1,R,S) weight, got ", w.describe());
  const int filters = static_cast<int>(w.dim(0)), rows = static_cast<int>(w.dim(2)), cols = static_cast<int>(w.dim(3));
  const float* values = w.data<float>();
  std::vector<data::Image> cells;
  for (int k = 0; k < filters; ++k) {
    const float* f = values + static_cast<size_t>(k) * rows * cols;
    const auto [low, high] = std::minmax_element(f, f + rows * cols);
    const float range = std::max(*high - *low, 1e-12f);
    data::Image cell(cols * zoom, rows * zoom, 1);
    for (int y = 0; y < cell.height; ++y)
      for (int x = 0; x < cell.width; ++x) cell.at(x, y) = 255.0f * (f[(y / zoom) * cols + x / zoom] - *low) / range;
    cells.push_back(std::move(cell));
  }
  data::save_png(path, data::make_grid(cells, 8));
}

}  // namespace keynet::apps
