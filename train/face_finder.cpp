#include "train/face_finder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "train/evaluate.h"

namespace keynet::train {

namespace {

constexpr int kBatch = 32;

// The model's points (image pixels) for each box, without test-time mirroring unless given.
std::vector<Points> predict_boxes(Module& model, const data::Image& image, const std::vector<data::FaceBox>& boxes,
                                  const FaceFinderOptions& options, Device device, const std::vector<int>& mirror) {
  std::vector<Points> result;
  const int w = options.framing.width, h = options.framing.height;
  for (size_t first = 0; first < boxes.size(); first += kBatch) {
    const size_t count = std::min<size_t>(kBatch, boxes.size() - first);
    Tensor batch = Tensor::empty({static_cast<int64_t>(count), 1, h, w});
    std::vector<data::Sample> samples;
    for (size_t i = 0; i < count; ++i) {
      data::LandmarkRecord record;
      record.box = boxes[first + i];
      samples.push_back(data::make_sample(record, image, options.framing));
      const Tensor one = data::to_tensor(samples.back().image);
      std::memcpy(batch.data<float>() + i * static_cast<size_t>(w * h), one.data<float>(), sizeof(float) * w * h);
    }
    const Tensor predicted = predict_normalized(model, batch, device, mirror);
    KEYNET_CHECK(predicted.dim(1) == 2 * options.num_points, "face finder: the model gives ", predicted.dim(1),
                 " outputs, not ", 2 * options.num_points);
    for (size_t i = 0; i < count; ++i) {
      const float* outputs = predicted.data<float>() + i * 2 * options.num_points;
      const data::FaceBox& box = boxes[first + i];
      check_finite_points(outputs, 2 * options.num_points,
                          "face finder: the face box at (" + std::to_string(std::lround(box.left)) + ", " +
                              std::to_string(std::lround(box.top)) + ") of side " +
                              std::to_string(std::lround(box.width)));
      result.push_back(samples[i].to_original(data::denormalize_points(outputs, options.num_points, w, h)));
    }
  }
  return result;
}

double iou(const data::FaceBox& a, const data::FaceBox& b) {
  const double x0 = std::max(a.left, b.left), y0 = std::max(a.top, b.top);
  const double x1 = std::min(a.left + a.width, b.left + b.width), y1 = std::min(a.top + a.height, b.top + b.height);
  const double inter = std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0);
  const double both = a.width * a.height + b.width * b.height - inter;
  return both > 0 ? inter / both : 0;
}

double eye_distance(const Points& p, const FaceFinderOptions& options) {
  const data::Point& l = p[options.left_eye_corner];
  const data::Point& r = p[options.right_eye_corner];
  return std::hypot(l.x - r.x, l.y - r.y);
}

double mean_displacement(const Points& a, const Points& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::hypot(a[i].x - b[i].x, a[i].y - b[i].y);
  return sum / static_cast<double>(a.size());
}

// Refines every box by `steps` rounds of predict and re-derive.
void refine_all(Module& model, const data::Image& image, std::vector<data::FaceBox>& boxes,
                const FaceFinderOptions& options, Device device, int steps) {
  for (int step = 0; step < steps; ++step) {
    const std::vector<Points> points = predict_boxes(model, image, boxes, options, device, {});
    for (size_t i = 0; i < boxes.size(); ++i) boxes[i] = data::box_around_points(points[i]);
  }
}

data::FaceBox scaled(const data::FaceBox& box, double dx, double dy, double scale) {
  const double cx = box.left + box.width / 2 + dx * box.width, cy = box.top + box.height / 2 + dy * box.height;
  return {cx - box.width * scale / 2, cy - box.height * scale / 2, box.width * scale, box.height * scale};
}

}  // namespace

FoundFace refine_face(Module& model, const data::Image& image, const data::FaceBox& start,
                      const FaceFinderOptions& options, Device device) {
  FoundFace face;
  face.candidates = 1;
  data::FaceBox box = start;
  for (int step = 0; step < options.max_refinements; ++step) {
    const Points points = predict_boxes(model, image, {box}, options, device, {}).front();
    const data::FaceBox next = data::box_around_points(points);
    const bool settled = iou(box, next) >= options.settled_iou;
    box = next;
    if (settled) break;
  }
  // The final points (mirrored too, when asked) and the self-consistency score of the settled box.
  const std::vector<data::FaceBox> probes{box, scaled(box, 0.1, 0.1, 1.0), scaled(box, -0.1, -0.1, 1.0),
                                          scaled(box, 0, 0, 0.9), scaled(box, 0, 0, 1.1)};
  const std::vector<Points> predicted = predict_boxes(model, image, probes, options, device, {});
  double displacement = 0;
  for (size_t i = 1; i < predicted.size(); ++i) displacement += mean_displacement(predicted[0], predicted[i]);
  displacement /= static_cast<double>(predicted.size() - 1);
  const double eyes = eye_distance(predicted[0], options);
  face.inconsistency_percent = eyes > 0 ? 100 * displacement / eyes : 1e9;
  face.found = face.inconsistency_percent <= options.max_inconsistency_percent;
  face.box = box;
  face.points = options.mirror_permutation.empty()
                    ? predicted[0]
                    : predict_boxes(model, image, {box}, options, device, options.mirror_permutation).front();
  return face;
}

FoundFace find_face(Module& model, const data::Image& image, const FaceFinderOptions& options, Device device) {
  KEYNET_CHECK(image.width > 0 && image.height > 0, "face finder: an empty image");
  std::vector<data::FaceBox> boxes;
  const double shorter = std::min(image.width, image.height);
  for (double fraction : options.candidate_scales) {
    const double side = fraction * shorter, stride = side * options.candidate_stride;
    const int columns = std::max(1, static_cast<int>(std::floor((image.width - side) / stride)) + 1);
    const int rows = std::max(1, static_cast<int>(std::floor((image.height - side) / stride)) + 1);
    // Centre the grid: the margins left over go half to each side.
    const double left0 = (image.width - side - (columns - 1) * stride) / 2;
    const double top0 = (image.height - side - (rows - 1) * stride) / 2;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < columns; ++c) boxes.push_back({left0 + c * stride, top0 + r * stride, side, side});
  }
  const int tried = static_cast<int>(boxes.size());

  // Two cheap rounds for all, then a quick consistency probe (one shifted crop each) picks the
  // candidates that are refined to convergence and fully scored.
  refine_all(model, image, boxes, options, device, 2);
  std::vector<data::FaceBox> probes;
  for (const data::FaceBox& box : boxes) probes.push_back(scaled(box, 0.1, 0.1, 1.0));
  const std::vector<Points> points = predict_boxes(model, image, boxes, options, device, {});
  const std::vector<Points> probed = predict_boxes(model, image, probes, options, device, {});
  std::vector<double> quick_score(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) {
    const double eyes = eye_distance(points[i], options);
    quick_score[i] = eyes > 0 ? mean_displacement(points[i], probed[i]) / eyes : 1e9;
  }
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return quick_score[a] < quick_score[b]; });

  FoundFace best;
  best.inconsistency_percent = 1e300;
  std::vector<data::FaceBox> refined;
  for (size_t i : order) {
    if (static_cast<int>(refined.size()) >= options.kept_candidates) break;
    bool duplicate = false;  // several candidates settle on the same face
    for (const data::FaceBox& b : refined) duplicate |= iou(b, boxes[i]) > 0.7;
    if (duplicate) continue;
    refined.push_back(boxes[i]);
    const FoundFace face = refine_face(model, image, boxes[i], options, device);
    if (face.inconsistency_percent < best.inconsistency_percent) best = face;
  }
  best.candidates = tried;
  return best;
}

}  // namespace keynet::train
