#include "train/metrics.h"

#include <cmath>

#include "tensor/error.h"

namespace keynet::train {

namespace {
// Calls f(predicted point, true point) for every pair; checks that the two sets line up.
template <class F>
size_t for_each_pair(const std::vector<Points>& predicted, const std::vector<Points>& truth, F&& f) {
  KEYNET_CHECK(predicted.size() == truth.size(), "metrics: ", predicted.size(), " predicted faces but ",
               truth.size(), " true ones");
  KEYNET_CHECK(!truth.empty(), "metrics: no faces");
  size_t count = 0;
  for (size_t face = 0; face < truth.size(); ++face) {
    KEYNET_CHECK(predicted[face].size() == truth[face].size(), "metrics: face ", face, " has ",
                 predicted[face].size(), " predicted points but ", truth[face].size(), " true ones");
    for (size_t i = 0; i < truth[face].size(); ++i) f(predicted[face][i], truth[face][i]);
    count += truth[face].size();
  }
  return count;
}
}  // namespace

double normalized_mse(const std::vector<Points>& predicted, const std::vector<Points>& truth, int image_width,
                      int image_height) {
  double sum = 0;
  const size_t points = for_each_pair(predicted, truth, [&](const data::Point& p, const data::Point& t) {
    const double dx = (p.x - t.x) / image_width, dy = (p.y - t.y) / image_height;
    sum += dx * dx + dy * dy;
  });
  return sum / (2.0 * static_cast<double>(points));
}

double mean_point_distance(const std::vector<Points>& predicted, const std::vector<Points>& truth) {
  double sum = 0;
  const size_t points = for_each_pair(predicted, truth, [&](const data::Point& p, const data::Point& t) {
    sum += std::hypot(p.x - t.x, p.y - t.y);
  });
  return sum / static_cast<double>(points);
}

double face_nme_percent(const Points& predicted, const Points& truth, int left_reference, int right_reference) {
  const int n = static_cast<int>(truth.size());
  KEYNET_CHECK(left_reference >= 0 && left_reference < n && right_reference >= 0 && right_reference < n,
               "NME: reference points ", left_reference, " and ", right_reference, " outside a face of ", n,
               " points");
  const double norm = std::hypot(truth[left_reference].x - truth[right_reference].x,
                                 truth[left_reference].y - truth[right_reference].y);
  KEYNET_CHECK(norm > 0, "NME: the reference points coincide");
  return 100.0 * mean_point_distance({predicted}, {truth}) / norm;
}

double mean_absolute_error(const std::vector<Points>& predicted, const std::vector<Points>& truth) {
  double sum = 0;
  const size_t points = for_each_pair(predicted, truth, [&](const data::Point& p, const data::Point& t) {
    sum += std::abs(p.x - t.x) + std::abs(p.y - t.y);
  });
  return sum / (2.0 * static_cast<double>(points));
}

}  // namespace keynet::train
