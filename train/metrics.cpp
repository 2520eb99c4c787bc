#include "train/metrics.h"

#include <algorithm>
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

std::vector<double> per_face_nme_percent(const std::vector<Points>& predicted, const std::vector<Points>& truth) {
  KEYNET_CHECK(predicted.size() == truth.size(), "per_face_nme_percent: ", predicted.size(), " predicted faces but ",
               truth.size(), " true ones");
  std::vector<double> nme;
  for (size_t i = 0; i < predicted.size(); ++i) nme.push_back(face_nme_percent(predicted[i], truth[i]));
  return nme;
}

double failure_rate_percent(const std::vector<double>& nme_percent, double threshold) {
  KEYNET_CHECK(!nme_percent.empty(), "failure_rate_percent: no faces");
  const auto failures = std::count_if(nme_percent.begin(), nme_percent.end(), [&](double e) { return e > threshold; });
  return 100.0 * static_cast<double>(failures) / static_cast<double>(nme_percent.size());
}

double ced_at(const std::vector<double>& nme_percent, double x) {
  KEYNET_CHECK(!nme_percent.empty(), "ced_at: no faces");
  const auto within = std::count_if(nme_percent.begin(), nme_percent.end(), [&](double e) { return e <= x; });
  return static_cast<double>(within) / static_cast<double>(nme_percent.size());
}

// The CED is a step function, so its integral from 0 to T is the mean over faces of (T - e) where e < T.
double ced_auc(const std::vector<double>& nme_percent, double threshold) {
  KEYNET_CHECK(!nme_percent.empty() && threshold > 0, "ced_auc: no faces, or a threshold of ", threshold);
  double area = 0;
  for (double e : nme_percent) area += std::max(0.0, threshold - e);
  return area / threshold / static_cast<double>(nme_percent.size());
}

}  // namespace keynet::train
