// Finding a face for a landmark model trained on face-box crops (the iBUG app), without a detector:
// the landmark network itself is the detector.
//
//   1. Candidate face boxes over positions and scales (squares of three quarters, a half and a third of
//      the image's shorter side, 60% of a side apart), searched one scale at a time, largest first.
//   2. Each is refined: predict the points, re-derive the box from them (the training labels' box
//      definition, data::box_around_points), predict again, until the box settles. Candidates whose
//      boxes land on the same face are merged. When a scale has more than kept_candidates, a quick
//      probe (each crop against the crop shifted by 10% of its side) shortlists the steadiest.
//   3. The shortlisted boxes are scored by self-consistency: a real face's points stay where they are
//      in the photo when the crop around them moves, while points the network invents on a blank or
//      noisy image move with the crop. The score is the mean displacement of the points between the
//      settled crop and four perturbed crops (shifted by +-10% of the box diagonally, scaled by 0.9 and
//      1.1), in percent of the predicted outer-eye-corner distance (the NME's normaliser).
//   4. The search stops at the first box that scores at most accept_inconsistency_percent (a clear
//      face: smaller scales would find the same face again, or a less consistent one); otherwise the
//      best of all scales wins.
//   5. "No face" when even the best candidate's score exceeds max_inconsistency_percent.
//
// The crops of each stage go through the network together, in batches of at most max_batch (on the
// CPU a crop costs about 1.5 times as much alone as in a batch of 8 or more); the answer does not
// depend on the batching.
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
  std::vector<double> candidate_scales{0.75, 0.5, 0.33};  // box side / shorter image side, in search order
  double candidate_stride = 0.6;    // of the box side
  int kept_candidates = 3;          // per scale, refined to convergence and scored
  int max_refinements = 5;          // predictions per candidate before its final scoring
  double settled_iou = 0.97;        // successive boxes this similar: settled
  double duplicate_iou = 0.7;       // candidates' boxes overlapping this much: one face, merged
  int max_batch = 32;               // crops per network forward (the result does not depend on it)
  double max_inconsistency_percent = 6.0;     // a worse best: no face
  double accept_inconsistency_percent = 3.0;  // a box this consistent ends the search (0: search everything)
};

struct FoundFace {
  bool found = false;
  Points points;                      // the best candidate's (also when !found, for diagnosis)
  data::FaceBox box;                  // the settled box of the best candidate
  double inconsistency_percent = 0;   // its self-consistency score (lower is better)
  int candidates = 0;                 // grid boxes tried (of the scales searched)
};

// Points for a given face box, refined until the box derived from them settles.
FoundFace refine_face(Module& model, const data::Image& image, const data::FaceBox& start,
                      const FaceFinderOptions& options, Device device);

// The first clearly consistent face of the image (else the most self-consistent), or found = false.
FoundFace find_face(Module& model, const data::Image& image, const FaceFinderOptions& options, Device device);

}  // namespace keynet::train
