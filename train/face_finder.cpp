// The face finder (what it does: face_finder.h), arranged around batches: each stage gathers the
// crops of all its candidates and sends them through the network together, at most options.max_batch
// per forward, because on the CPU a ResNet18 crop alone costs about 1.5 times a crop in a batch of 8
// (far more when the cores are shared: OpenMP's threads wait on each other once per layer), and a
// small batch leaves a GPU idle.
//
// Work that would change the answer little is skipped:
//  - a candidate whose box has settled is not predicted again;
//  - candidates whose boxes land on the same face are merged (they would refine to the same box);
//  - a crop's prediction serves everything it can (the quick probe's direct crop is also the
//    candidate's next refinement step; the settled crop's is the final prediction);
//  - the search ends at the first clearly consistent face (accept_inconsistency_percent): the largest
//    scale, searched first, finds a portrait's face from one or two candidates in 10-20 crops, where
//    searching every scale takes 100-200.
#include "train/face_finder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "train/evaluate.h"

namespace keynet::train {

namespace {

// One network input: the FaceBox crop around `box`, optionally mirrored left-right (test-time
// mirroring; its points come back flipped and relabelled, i.e. as a second guess at the same face).
struct Crop {
  data::FaceBox box;
  bool mirrored = false;
};

// The points (image pixels) the model gives for each crop, in forwards of at most options.max_batch
// crops, in order. Each crop is made and predicted independently of its batch mates, so the result
// does not depend on the batching (checked by a test).
std::vector<Points> predict_crops(Module& model, const data::Image& image, const std::vector<Crop>& crops,
                                  const FaceFinderOptions& options, Device device) {
  KEYNET_CHECK(options.max_batch >= 1, "face finder: max_batch ", options.max_batch, " (at least 1)");
  std::vector<Points> result;
  result.reserve(crops.size());
  const int w = options.framing.width, h = options.framing.height, k = options.num_points;
  const size_t pixels = static_cast<size_t>(w) * h;
  for (size_t first = 0; first < crops.size(); first += options.max_batch) {
    const size_t count = std::min<size_t>(options.max_batch, crops.size() - first);
    Tensor batch = Tensor::empty({static_cast<int64_t>(count), 1, h, w});
    std::vector<data::Sample> samples;
    for (size_t i = 0; i < count; ++i) {
      data::LandmarkRecord record;
      record.box = crops[first + i].box;
      samples.push_back(data::make_sample(record, image, options.framing));
      const Tensor one = data::to_tensor(samples.back().image);
      float* to = batch.data<float>() + i * pixels;
      if (!crops[first + i].mirrored) {
        std::memcpy(to, one.data<float>(), sizeof(float) * pixels);
      } else {  // x -> w - 1 - x, as predict_normalized mirrors
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) to[y * w + x] = one.data<float>()[y * w + w - 1 - x];
      }
    }
    const Tensor predicted = model.forward(batch.to(device), Mode::Eval).to(Device::CPU);
    KEYNET_CHECK(predicted.dim(1) == 2 * k, "face finder: the model gives ", predicted.dim(1), " outputs, not ",
                 2 * k);
    for (size_t i = 0; i < count; ++i) {
      const float* outputs = predicted.data<float>() + i * 2 * k;
      const Crop& crop = crops[first + i];
      check_finite_points(outputs, 2 * k,
                          "face finder: the face box at (" + std::to_string(std::lround(crop.box.left)) + ", " +
                              std::to_string(std::lround(crop.box.top)) + ") of side " +
                              std::to_string(std::lround(crop.box.width)));
      std::vector<float> unmirrored(outputs, outputs + 2 * k);
      if (crop.mirrored) {
        // The mirrored crop's label perm[j] is this crop's point j, its normalised x negated
        // ((2x+1)/W - 1 is odd under x -> W - 1 - x).
        KEYNET_CHECK(static_cast<int>(options.mirror_permutation.size()) == k, "face finder: ",
                     options.mirror_permutation.size(), " labels in the mirror permutation for ", k, " points");
        for (int j = 0; j < k; ++j) {
          unmirrored[2 * j] = -outputs[2 * options.mirror_permutation[j]];
          unmirrored[2 * j + 1] = outputs[2 * options.mirror_permutation[j] + 1];
        }
      }
      result.push_back(samples[i].to_original(data::denormalize_points(unmirrored.data(), k, w, h)));
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

data::FaceBox scaled(const data::FaceBox& box, double dx, double dy, double scale) {
  const double cx = box.left + box.width / 2 + dx * box.width, cy = box.top + box.height / 2 + dy * box.height;
  return {cx - box.width * scale / 2, cy - box.height * scale / 2, box.width * scale, box.height * scale};
}

// A face box being refined: the crop goes around `box`; once the box derived from a prediction is
// within settled_iou of the box it was predicted in, it has settled and is not predicted again.
struct Candidate {
  data::FaceBox box;
  bool settled = false;
};

// Moves a candidate to the box around the points predicted in its crop.
void step(Candidate& c, const Points& points, const FaceFinderOptions& options) {
  const data::FaceBox next = data::box_around_points(points);
  c.settled = iou(c.box, next) >= options.settled_iou;
  c.box = next;
}

// One refinement round: every candidate not yet settled is predicted (all in one batch) and moved.
void refine_round(Module& model, const data::Image& image, std::vector<Candidate>& candidates,
                  const FaceFinderOptions& options, Device device) {
  std::vector<Crop> crops;
  std::vector<size_t> which;
  for (size_t i = 0; i < candidates.size(); ++i)
    if (!candidates[i].settled) crops.push_back({candidates[i].box}), which.push_back(i);
  const std::vector<Points> points = predict_crops(model, image, crops, options, device);
  for (size_t j = 0; j < which.size(); ++j) step(candidates[which[j]], points[j], options);
}

// Drops every candidate whose box overlaps an earlier one's by more than `overlap`: both are on the
// same face and would refine to (nearly) the same box, so only the earlier is worth predicting.
void merge_duplicates(std::vector<Candidate>& candidates, double overlap) {
  std::vector<Candidate> kept;
  for (const Candidate& c : candidates) {
    bool duplicate = false;
    for (const Candidate& k : kept) duplicate = duplicate || iou(k.box, c.box) > overlap;
    if (!duplicate) kept.push_back(c);
  }
  candidates = std::move(kept);
}

// Refines the candidates together (one batch a round) until each has settled or had
// max_refinements steps (of which `steps_done` are behind it).
void settle(Module& model, const data::Image& image, std::vector<Candidate>& candidates, int steps_done,
            const FaceFinderOptions& options, Device device) {
  for (int round = steps_done; round < options.max_refinements; ++round) {
    if (std::all_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.settled; })) return;
    refine_round(model, image, candidates, options, device);
    // Two candidates that converged onto one face would score the same; the better-ranked one stays.
    merge_duplicates(candidates, options.settled_iou);
  }
}

// A settled box's self-consistency and final points, from one batch: the crop around the box, the
// four perturbed crops and, with test-time mirroring, the crop mirrored; the points average them all.
FoundFace score(Module& model, const data::Image& image, const data::FaceBox& box, const FaceFinderOptions& options,
                Device device) {
  std::vector<Crop> crops;
  for (const data::FaceBox& probe : {box, scaled(box, 0.1, 0.1, 1.0), scaled(box, -0.1, -0.1, 1.0),
                                     scaled(box, 0, 0, 0.9), scaled(box, 0, 0, 1.1)})
    crops.push_back({probe});
  const bool mirror = !options.mirror_permutation.empty();
  if (mirror) crops.push_back({box, true});
  const std::vector<Points> p = predict_crops(model, image, crops, options, device);
  double displacement = 0;
  for (int j = 1; j < 5; ++j) displacement += mean_displacement(p[0], p[j]);
  displacement /= 4;
  FoundFace face;
  const double eyes = eye_distance(p[0], options);
  face.inconsistency_percent = eyes > 0 ? 100 * displacement / eyes : 1e9;
  face.found = face.inconsistency_percent <= options.max_inconsistency_percent;
  face.box = box;
  // The points: the mean of every crop's guess, which the consistency probes give for free (0.05 points
  // of validation NME better than the centred crop and its mirror alone, RESULTS.md).
  face.points = p[0];
  for (size_t j = 0; j < face.points.size(); ++j) {
    double x = 0, y = 0;
    for (const Points& guess : p) x += guess[j].x, y += guess[j].y;
    face.points[j] = {x / p.size(), y / p.size()};
  }
  return face;
}

// Settles the candidates (best-ranked first), then scores them in that order until one is
// consistent enough to accept (options.accept_inconsistency_percent): the rest would at best find
// the same face again (a photo's other faces are rarely more consistent than an accepted one).
// Returns the most self-consistent of those scored.
FoundFace settle_and_score(Module& model, const data::Image& image, std::vector<Candidate> candidates,
                           int steps_done, const FaceFinderOptions& options, Device device) {
  settle(model, image, candidates, steps_done, options, device);
  FoundFace best;
  best.inconsistency_percent = 1e300;
  for (const Candidate& c : candidates) {
    FoundFace face = score(model, image, c.box, options, device);
    if (face.inconsistency_percent < best.inconsistency_percent) best = std::move(face);
    if (best.inconsistency_percent <= options.accept_inconsistency_percent) break;
  }
  return best;
}

}  // namespace

FoundFace refine_face(Module& model, const data::Image& image, const data::FaceBox& start,
                      const FaceFinderOptions& options, Device device) {
  FoundFace face = settle_and_score(model, image, {Candidate{start}}, 0, options, device);
  face.candidates = 1;
  return face;
}

namespace {

// The candidates of one scale: a shortlist of at most kept_candidates, refined and scored.
FoundFace search_scale(Module& model, const data::Image& image, std::vector<Candidate> candidates,
                       const FaceFinderOptions& options, Device device) {
  // A first round for all (one batch); candidates that landed on the same face are merged.
  refine_round(model, image, candidates, options, device);
  merge_duplicates(candidates, options.duplicate_iou);
  if (static_cast<int>(candidates.size()) <= options.kept_candidates)  // no need to rank them
    return settle_and_score(model, image, candidates, 1, options, device);

  // More than are kept: a second round joined by a quick consistency probe ranks them. One batch
  // holds every candidate's crop (its second refinement step) and the crop shifted by 10% of its side;
  // a face's points stay where they are in the photo, invented points move with the crop.
  std::vector<Crop> crops;
  for (const Candidate& c : candidates) crops.push_back({c.box}), crops.push_back({scaled(c.box, 0.1, 0.1, 1.0)});
  const std::vector<Points> probed = predict_crops(model, image, crops, options, device);
  std::vector<double> quick_score(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Points& points = probed[2 * i];
    const double eyes = eye_distance(points, options);
    quick_score[i] = eyes > 0 ? mean_displacement(points, probed[2 * i + 1]) / eyes : 1e9;
    step(candidates[i], points, options);
  }
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return quick_score[a] < quick_score[b]; });
  std::vector<Candidate> kept;
  for (size_t i : order) {
    if (static_cast<int>(kept.size()) >= options.kept_candidates) break;
    bool duplicate = false;  // several candidates settle on the same face
    for (const Candidate& k : kept) duplicate = duplicate || iou(k.box, candidates[i].box) > options.duplicate_iou;
    if (!duplicate) kept.push_back(candidates[i]);
  }
  return settle_and_score(model, image, kept, 2, options, device);
}

}  // namespace

FoundFace find_face(Module& model, const data::Image& image, const FaceFinderOptions& options, Device device) {
  KEYNET_CHECK(image.width > 0 && image.height > 0, "face finder: an empty image");
  FoundFace best;
  best.inconsistency_percent = 1e300;
  int tried = 0;
  const double shorter = std::min(image.width, image.height);
  for (double fraction : options.candidate_scales) {
    std::vector<Candidate> candidates;
    const double side = fraction * shorter, stride = side * options.candidate_stride;
    const int columns = std::max(1, static_cast<int>(std::floor((image.width - side) / stride)) + 1);
    const int rows = std::max(1, static_cast<int>(std::floor((image.height - side) / stride)) + 1);
    // Centre the grid: the margins left over go half to each side.
    const double left0 = (image.width - side - (columns - 1) * stride) / 2;
    const double top0 = (image.height - side - (rows - 1) * stride) / 2;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < columns; ++c) candidates.push_back({{left0 + c * stride, top0 + r * stride, side, side}});
    tried += static_cast<int>(candidates.size());
    FoundFace face = search_scale(model, image, std::move(candidates), options, device);
    if (face.inconsistency_percent < best.inconsistency_percent) best = std::move(face);
    if (best.inconsistency_percent <= options.accept_inconsistency_percent) break;  // a clear face
  }
  best.candidates = tried;
  return best;
}

}  // namespace keynet::train
