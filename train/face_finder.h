// Finding a face for a landmark model trained on face-box crops (the iBUG app), without a detector:
// the landmark network itself is the detector.
//
//   1. Candidate face boxes over positions and scales (squares of a third to three quarters of the
//      image's shorter side, 60% of a side apart).
//   2. Each is refined: predict the points, re-derive the box from them (the training labels' box
//      definition, data::box_around_points), predict again, until the box settles.
//   3. The refined boxes are ranked by self-consistency: a real face's points stay where they are in
//      the photo when the crop around them moves, while points the network invents on a blank or
//      noisy image move with the crop. The score is the mean displacement of the points between the
//      settled crop and four perturbed crops (shifted by +-10% of the box diagonally, scaled by 0.9 and
//      1.1), in percent of the predicted outer-eye-corner distance (the NME's normaliser).
//   4. "No face" when even the best candidate's score exceeds max_inconsistency_percent.
#pragma once
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"
#include "train/metrics.h"

namespace keynet::train {

struct FaceFinderOptions {
  data::SampleOptions framing;      // the model's input framing (FaceBox crops, no augmentation)
  int num_points = 68;
  std::vector<int> mirror_permutation;   // test-time mirroring for the final prediction; empty: off
  int left_eye_corner = 36, right_eye_corner = 45;
  std::vector<double> candidate_scales{0.75, 0.5, 0.33};  // box side / shorter image side
  double candidate_stride = 0.6;    // of the box side
  int kept_candidates = 3;          // refined to convergence and scored
  int max_refinements = 5;
  double settled_iou = 0.97;        // successive boxes this similar: settled
  double max_inconsistency_percent = 6.0;
};

struct FoundFace {
  bool found = false;
  Points points;                      // the best candidate's (also when !found, for diagnosis)
  data::FaceBox box;                  // the settled box of the best candidate
  double inconsistency_percent = 0;   // its self-consistency score (lower is better)
  int candidates = 0;                 // boxes tried
};

// Points for a given face box, refined until the box derived from them settles.
FoundFace refine_face(Module& model, const data::Image& image, const data::FaceBox& start,
                      const FaceFinderOptions& options, Device device);

// The most self-consistent face of the image, or found = false.
FoundFace find_face(Module& model, const data::Image& image, const FaceFinderOptions& options, Device device);

}  // namespace keynet::train
