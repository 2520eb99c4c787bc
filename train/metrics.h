// Keypoint metrics, in one place for every app. Each takes predictions and ground truth in pixels of
// the same image (the original file's, after Sample::to_original), one vector of points per face.
#pragma once
#include <vector>

#include "data/affine.h"

namespace keynet::train {

using Points = std::vector<data::Point>;

// The course's metric (PyTorch's MSELoss on coordinates scaled to [0, 1]): the mean over faces and
// over all 2K coordinates of the squared difference, x divided by the image's width and y by its height.
double normalized_mse(const std::vector<Points>& predicted, const std::vector<Points>& truth, int image_width,
                      int image_height);

// Mean Euclidean distance between predicted and true points, over all faces and points, in pixels.
double mean_point_distance(const std::vector<Points>& predicted, const std::vector<Points>& truth);

// Normalised mean error of one face in percent: mean point-to-point distance divided by the distance
// between two reference points of the truth (300-W: the outer eye corners 36 and 45, 0-based).
double face_nme_percent(const Points& predicted, const Points& truth, int left_reference = 36,
                        int right_reference = 45);

// face_nme_percent of each face, in order.
std::vector<double> per_face_nme_percent(const std::vector<Points>& predicted, const std::vector<Points>& truth);

// 300-W's summaries of per-face NMEs (percent). The failure rate: the share of faces whose NME is above
// `threshold`, in percent. The CED at x: the fraction of faces whose NME is at most x. Its area from 0 to
// `threshold`, divided by `threshold` (1: every face perfect, 0: every face a failure) is the AUC.
double failure_rate_percent(const std::vector<double>& nme_percent, double threshold = 8.0);
double ced_at(const std::vector<double>& nme_percent, double x);
double ced_auc(const std::vector<double>& nme_percent, double threshold = 8.0);

// Mean absolute error per coordinate (x and y alike), in pixels: the Kaggle metric.
double mean_absolute_error(const std::vector<Points>& predicted, const std::vector<Points>& truth);

}  // namespace keynet::train
